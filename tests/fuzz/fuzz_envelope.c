/*
 * fuzz_envelope.c - libFuzzer target for orc_event_parse(): one Kafka
 * message (key, headers, value) per input, in either content mode.
 *
 * The input is framed as text lines, so that seeds read like messages:
 *
 *   K<key bytes>          the key (without one: no key)
 *   H<name>:<value>       a header with a value (any bytes but '\n')
 *   N<name>               a header with no value (Kafka's null)
 *   (an empty line)       the end of these lines: the rest is the value
 *
 * With no empty line the message has no value (a tombstone).  Other lines
 * are ignored.  A header name stops at its first NUL byte, as librdkafka's
 * C strings do.  tests/fuzz/seed_envelope.c writes seeds in this form.
 *
 * Beyond "no crash, no leak", every input must keep what envelope.h
 * promises: an accepted event has its required attributes, valid UTF-8
 * without NUL everywhere, a lowercase UUID sagaid, a valid traceparent in
 * printable ASCII, at most 100 extensions named [a-z0-9]+ and the dedup
 * id "<source> <id>"; a rejected one is ORC_INVALID (never fatal:
 * nothing here runs out of memory), leaves the event empty and says why
 * in valid UTF-8, because that reason is written into the dead letter.
 */
#include "fuzz.h"

#include "envelope.h"
#include "text.h"

#define HEADERS_MAX 512 /* past the envelope's own bound of 100 */

struct message {
	const uint8_t *key, *value;
	size_t key_len, value_len;
	struct orc_header headers[HEADERS_MAX];
	char *names[HEADERS_MAX];
	size_t n_headers;
};

static void
add_header(struct message *m, const uint8_t *p, size_t n, bool has_value)
{
	const uint8_t *colon = has_value ? memchr(p, ':', n) : NULL;
	size_t name_len = colon ? (size_t)(colon - p) : n;
	struct orc_header *h = &m->headers[m->n_headers];

	if (m->n_headers == HEADERS_MAX || (has_value && colon == NULL))
		return;
	m->names[m->n_headers] = fuzz_strndup(p, name_len);
	FUZZ_CHECK(m->names[m->n_headers] != NULL);
	h->name = m->names[m->n_headers];
	/* a header of zero bytes still has a value, unlike Kafka's null */
	h->value = has_value ? colon + 1 : NULL;
	h->size = has_value ? n - name_len - 1 : 0;
	m->n_headers++;
}

static void
frame(struct message *m, const uint8_t *data, size_t size)
{
	const uint8_t *line;
	size_t len;

	memset(m, 0, sizeof(*m));
	while (fuzz_line(&data, &size, &line, &len)) {
		if (len == 0) {
			m->value = data;
			m->value_len = size;
			return;
		}
		if (line[0] == 'K') {
			m->key = line + 1;
			m->key_len = len - 1;
		} else if (line[0] == 'H' || line[0] == 'N') {
			add_header(m, line + 1, len - 1, line[0] == 'H');
		}
	}
}

/* What a traceparent may hold: printable ASCII. */
static const char printable[] =
    " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`"
    "abcdefghijklmnopqrstuvwxyz{|}~";

/*
 * A reply's sagastep: a step name, or a map item's "<name>[<n>]" with n
 * decimal, no leading zero, at most 5 digits (written apart from the
 * envelope's own check, so the two can disagree).
 */
static bool
step_ref_ok(const char *s)
{
	char name[ORC_NAME_MAX];
	size_t len = strcspn(s, "["), digits;

	if (s[len] == '\0')
		return orc_text_name_valid(s);
	if (len >= sizeof(name))
		return false;
	memcpy(name, s, len);
	name[len] = '\0';
	digits = strspn(s + len + 1, "0123456789");
	return orc_text_name_valid(name) && digits >= 1 && digits <= 5 &&
	       (digits == 1 || s[len + 1] != '0') &&
	       strcmp(s + len + 1 + digits, "]") == 0;
}

static bool
text_ok(const char *s)
{
	return s == NULL || orc_text_utf8_valid(s, strlen(s));
}

static void
check_accepted(const struct orc_event *ev, const struct message *m)
{
	static const char *const attrs[] = {
	    "specversion", "id",	   "source",	 "type",
	    "datacontenttype", "dataschema", "subject", "time",
	    "sagaid",	   "sagastep", "replyto", "traceparent",
	};
	static const char name_chars[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	size_t ns;

	FUZZ_CHECK(strcmp(ev->specversion, "1.0") == 0);
	FUZZ_CHECK(ev->id[0] != '\0' && ev->type[0] != '\0');
	FUZZ_CHECK(ev->source[0] != '\0' &&
		   strpbrk(ev->source, " \t\r\n") == NULL);
	for (size_t i = 0; i < sizeof(attrs) / sizeof(attrs[0]); i++)
		FUZZ_CHECK(text_ok(orc_event_attribute(ev, attrs[i])));
	if (ev->sagaid != NULL) {
		FUZZ_CHECK(orc_text_uuid_valid(ev->sagaid));
		FUZZ_CHECK(strpbrk(ev->sagaid, "ABCDEF") == NULL);
	}
	FUZZ_CHECK(ev->sagastep == NULL || step_ref_ok(ev->sagastep));
	FUZZ_CHECK(ev->traceparent == NULL ||
		   (orc_text_traceparent_valid(ev->traceparent) &&
		    strspn(ev->traceparent, printable) ==
			strlen(ev->traceparent)));
	FUZZ_CHECK(ev->n_ext <= 100);
	for (size_t i = 0; i < ev->n_ext; i++) {
		const char *name = ev->ext[i].name;

		FUZZ_CHECK(name[0] != '\0' &&
			   strspn(name, name_chars) == strlen(name));
		FUZZ_CHECK(text_ok(ev->ext[i].value));
		FUZZ_CHECK(orc_event_attribute(ev, name) == ev->ext[i].value);
	}
	FUZZ_CHECK(ev->data != NULL);
	FUZZ_CHECK(!ev->data_base64 || json_is_string(ev->data));
	FUZZ_CHECK((ev->key == NULL) == (m->key == NULL));
	if (ev->key != NULL)
		FUZZ_CHECK(ev->key_len == m->key_len &&
			   memcmp(ev->key, m->key, m->key_len) == 0 &&
			   ev->key[ev->key_len] == '\0');
	ns = strlen(ev->source);
	FUZZ_CHECK(strncmp(orc_event_dedup_id(ev), ev->source, ns) == 0 &&
		   orc_event_dedup_id(ev)[ns] == ' ' &&
		   strcmp(orc_event_dedup_id(ev) + ns + 1, ev->id) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct message m;
	static const struct orc_event empty;
	struct orc_event ev;
	struct orc_error err = {0};
	enum orc_status st;

	frame(&m, data, size);
	st = orc_event_parse(&ev, m.value, m.value_len, m.key, m.key_len,
			     m.headers, m.n_headers, &err);
	if (st == ORC_OK) {
		check_accepted(&ev, &m);
	} else {
		FUZZ_CHECK(st == ORC_INVALID && err.status == ORC_INVALID);
		FUZZ_CHECK(err.message[0] != '\0' && text_ok(err.message));
		FUZZ_CHECK(memcmp(&ev, &empty, sizeof(ev)) == 0);
	}
	orc_event_finish(&ev);
	orc_event_finish(&ev);
	for (size_t i = 0; i < m.n_headers; i++)
		free(m.names[i]);
	return 0;
}
