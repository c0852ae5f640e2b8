/*
 * envelope.c - reading CloudEvents from Kafka messages, writing the
 * headers of the commands we publish.
 *
 * Parsing runs in three steps: collect the attributes of the mode the
 * message uses into the event (copies, each checked for NUL bytes and
 * UTF-8 on the way in), check them all in one place (check_attributes),
 * then decode the data as its datacontenttype says.  Any failure frees what
 * was collected, so a caller never sees half an event.
 *
 * Everything a message carries is untrusted: values quoted back in error
 * messages are cut short and reduced to printable ASCII, and every size
 * is bounded (envelope.h, ORC_ENVELOPE_*_MAX): the header count and bytes
 * and the key before anything is read, each attribute as it is stored, so
 * a message with thousands of headers costs little.  No clock is read: the command's time comes from the
 * caller.
 */
#include "envelope.h"
#include "definition.h"
#include "text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SHOWN_MAX 48  /* characters of a bad value quoted in a message */
#define SHOWN_SIZE (SHOWN_MAX + 4)

/* The attributes with a field of their own in struct orc_event. */
struct known_attr {
	const char *name;
	size_t offset;
	size_t max; /* bytes; 0: bounded by its check (specversion "1.0",
		     * sagaid a UUID, sagastep a step name) */
};

#define KNOWN(field, max) {#field, offsetof(struct orc_event, field), max}

static const struct known_attr known_attrs[] = {
	KNOWN(specversion, 0),
	KNOWN(id, ORC_ENVELOPE_ID_MAX),
	KNOWN(source, ORC_ENVELOPE_SOURCE_MAX),
	KNOWN(type, ORC_ENVELOPE_TYPE_MAX),
	KNOWN(datacontenttype, ORC_ENVELOPE_CONTENT_TYPE_MAX),
	KNOWN(dataschema, ORC_ENVELOPE_DATASCHEMA_MAX),
	KNOWN(subject, ORC_ENVELOPE_SUBJECT_MAX),
	KNOWN(time, ORC_ENVELOPE_TIME_MAX),
	KNOWN(sagaid, 0),
	KNOWN(sagastep, 0),
	KNOWN(replyto, ORC_ENVELOPE_REPLYTO_MAX),
};

#define N_KNOWN (sizeof(known_attrs) / sizeof(known_attrs[0]))

/* Optional attributes that must not be empty when present. */
static const char *const nonempty_optional[] = {
	"datacontenttype", "dataschema", "subject", "time", "replyto",
};

static const struct known_attr *
known_find(const char *name)
{
	for (size_t i = 0; i < N_KNOWN; i++)
		if (strcmp(known_attrs[i].name, name) == 0)
			return &known_attrs[i];
	return NULL;
}

static char **
known_slot(struct orc_event *ev, const struct known_attr *k)
{
	return (char **)((char *)ev + k->offset);
}

static enum orc_status
oom(struct orc_error *err)
{
	return orc_error_set(err, ORC_FATAL, "out of memory");
}

/* v made safe to quote in a message: printable ASCII, cut short. */
static const char *
shown(const char *v, char buf[SHOWN_SIZE])
{
	size_t n;

	for (n = 0; v[n] != '\0' && n < SHOWN_MAX; n++) {
		unsigned char c = (unsigned char)v[n];

		buf[n] = c >= 0x20 && c < 0x7f && c != '"' ? (char)c : '?';
	}
	if (v[n] != '\0') {
		memcpy(buf + n, "...", 3);
		n += 3;
	}
	buf[n] = '\0';
	return buf;
}

/* The media type of content type ct: up to ';', blanks trimmed. */
static size_t
media_type(const char *ct, const char **start)
{
	const char *end;

	while (*ct == ' ' || *ct == '\t')
		ct++;
	end = strchr(ct, ';');
	if (end == NULL)
		end = ct + strlen(ct);
	while (end > ct && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	*start = ct;
	return (size_t)(end - ct);
}

/* Media types compare case-insensitively (RFC 2045). */
static bool
media_is(const char *ct, const char *want)
{
	const char *s;
	size_t n = media_type(ct, &s);

	return n == strlen(want) && strncasecmp(s, want, n) == 0;
}

/* application/cloudevents, application/cloudevents+json, -batch+json... */
static bool
media_is_cloudevents(const char *ct)
{
	static const char prefix[] = "application/cloudevents";
	const char *s;
	size_t n = media_type(ct, &s);

	return n >= sizeof(prefix) - 1 &&
	       strncasecmp(s, prefix, sizeof(prefix) - 1) == 0;
}

/* JSON data: no content type, application/json, or any type/x+json. */
static bool
media_is_json(const char *ct)
{
	const char *s, *slash;
	size_t n;

	if (ct == NULL || media_is(ct, "application/json"))
		return true;
	n = media_type(ct, &s);
	slash = memchr(s, '/', n);
	if (slash == NULL || slash == s)
		return false;
	return (size_t)(s + n - slash) > 6 &&
	       strncasecmp(s + n - 5, "+json", 5) == 0;
}

const char *
orc_event_mode_name(enum orc_event_mode mode)
{
	switch (mode) {
	case ORC_EVENT_MODE_BINARY:
		return "binary";
	case ORC_EVENT_MODE_STRUCTURED:
		return "structured";
	}
	return "unknown";
}

void
orc_event_finish(struct orc_event *ev)
{
	if (ev == NULL)
		return;
	for (size_t i = 0; i < N_KNOWN; i++)
		free(*known_slot(ev, &known_attrs[i]));
	free(ev->traceparent);
	for (size_t i = 0; i < ev->n_ext; i++) {
		free(ev->ext[i].name);
		free(ev->ext[i].value);
	}
	free(ev->ext);
	free(ev->key);
	json_decref(ev->data);
	free(ev->dedup_id);
	memset(ev, 0, sizeof(*ev));
}

const char *
orc_event_dedup_id(const struct orc_event *ev)
{
	return ev->dedup_id;
}

const char *
orc_event_attribute(const struct orc_event *ev, const char *name)
{
	const struct known_attr *k = known_find(name);

	if (k != NULL)
		return *(char *const *)((const char *)ev + k->offset);
	if (strcmp(name, "traceparent") == 0)
		return ev->traceparent;
	for (size_t i = 0; i < ev->n_ext; i++)
		if (strcmp(ev->ext[i].name, name) == 0)
			return ev->ext[i].value;
	return NULL;
}

/* CloudEvents: attribute names are lowercase ASCII letters and digits. */
static bool
attribute_name_valid(const char *name)
{
	if (*name == '\0')
		return false;
	for (const char *p = name; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
			return false;
	return true;
}

static enum orc_status
too_long(const char *what, const char *name, size_t len, size_t max,
	 struct orc_error *err)
{
	char b[SHOWN_SIZE];

	return orc_error_set(err, ORC_INVALID,
			     "%s \"%s\" is %zu bytes, longer than %zu", what,
			     shown(name, b), len, max);
}

/*
 * Store value (taken, freed on failure) as attribute name: in its own
 * field, or in the extension list.  An earlier value is replaced; a NULL
 * value removes it.  An extension whose name breaks the CloudEvents rule
 * is invalid, so that every name kept is plain ASCII; a name or value
 * over its bound is invalid too.
 */
static enum orc_status
set_attribute(struct orc_event *ev, const char *name, char *value,
	      struct orc_error *err)
{
	const struct known_attr *k = known_find(name);
	struct orc_event_ext *ext;
	char b[SHOWN_SIZE];

	size_t max = k != NULL ? k->max : ORC_ENVELOPE_EXT_VALUE_MAX;
	size_t len = value != NULL ? strlen(value) : 0;

	if (k == NULL && !attribute_name_valid(name)) {
		free(value);
		return orc_error_set(err, ORC_INVALID,
				     "attribute name \"%s\" is not lowercase "
				     "letters and digits",
				     shown(name, b));
	}
	if (k == NULL && strlen(name) > ORC_ENVELOPE_EXT_NAME_MAX) {
		free(value);
		return too_long("attribute name", name, strlen(name),
				ORC_ENVELOPE_EXT_NAME_MAX, err);
	}
	if (max > 0 && len > max) {
		free(value);
		return too_long("attribute", name, len, max, err);
	}
	if (k != NULL) {
		char **slot = known_slot(ev, k);

		free(*slot);
		*slot = value;
		return ORC_OK;
	}
	for (size_t i = 0; i < ev->n_ext; i++) {
		if (strcmp(ev->ext[i].name, name) != 0)
			continue;
		free(ev->ext[i].value);
		ev->ext[i].value = value;
		if (value == NULL) {
			free(ev->ext[i].name);
			memmove(&ev->ext[i], &ev->ext[i + 1],
				(ev->n_ext - i - 1) * sizeof(*ev->ext));
			ev->n_ext--;
		}
		return ORC_OK;
	}
	if (value == NULL)
		return ORC_OK;
	if (ev->n_ext == ORC_ENVELOPE_EXT_MAX) {
		free(value);
		return orc_error_set(err, ORC_INVALID,
				     "more than %d extension attributes",
				     ORC_ENVELOPE_EXT_MAX);
	}
	ext = realloc(ev->ext, (ev->n_ext + 1) * sizeof(*ext));
	if (ext == NULL) {
		free(value);
		return oom(err);
	}
	ev->ext = ext;
	ext[ev->n_ext].name = strdup(name);
	if (ext[ev->n_ext].name == NULL) {
		free(value);
		return oom(err);
	}
	ext[ev->n_ext++].value = value;
	return ORC_OK;
}

/*
 * A header's value as the string of attribute attr: *out new, or NULL when
 * the header has no value (Kafka's null).
 */
static enum orc_status
header_string(const struct orc_header *h, const char *attr, char **out,
	      struct orc_error *err)
{
	char b[SHOWN_SIZE];

	*out = NULL;
	if (h == NULL || h->value == NULL)
		return ORC_OK;
	if (memchr(h->value, '\0', h->size) != NULL)
		return orc_error_set(err, ORC_INVALID,
				     "attribute \"%s\" contains a NUL byte",
				     shown(attr, b));
	if (!orc_text_utf8_valid(h->value, h->size))
		return orc_error_set(err, ORC_INVALID,
				     "attribute \"%s\" is not valid UTF-8",
				     shown(attr, b));
	*out = strndup(h->value, h->size);
	return *out == NULL ? oom(err) : ORC_OK;
}

/* Printable ASCII only, as an HTTP header (and our columns) expect. */
static bool
printable_ascii(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return false;
	return true;
}

/*
 * Keep tp (borrowed) as the trace parent when there is none yet and it is
 * valid.  A later version may append fields after the flags: they must be
 * printable ASCII too (the check's own), else the whole value is dropped,
 * as is one longer than ORC_ENVELOPE_TRACEPARENT_MAX.
 */
static enum orc_status
take_traceparent(struct orc_event *ev, const char *tp, size_t n,
		 struct orc_error *err)
{
	char *copy;

	if (ev->traceparent != NULL || tp == NULL ||
	    n > ORC_ENVELOPE_TRACEPARENT_MAX || !printable_ascii(tp, n))
		return ORC_OK;
	copy = strndup(tp, n);
	if (copy == NULL)
		return oom(err);
	if (!orc_text_traceparent_valid(copy)) {
		free(copy);
		return ORC_OK;
	}
	ev->traceparent = copy;
	return ORC_OK;
}

/* Binary mode: the attributes are the ce_* headers. */
static enum orc_status
collect_binary(struct orc_event *ev, const struct orc_header *headers,
	       size_t n_headers, const struct orc_header **ce_traceparent,
	       struct orc_error *err)
{
	for (size_t i = 0; i < n_headers; i++) {
		const struct orc_header *h = &headers[i];
		enum orc_status st;
		char *v;

		if (h->name == NULL || strncmp(h->name, "ce_", 3) != 0 ||
		    h->name[3] == '\0')
			continue;
		if (strcmp(h->name, "ce_traceparent") == 0) {
			*ce_traceparent = h;
			continue;
		}
		/* a header with no value (Kafka's null) removes an earlier
		 * one, so the last header of a name wins as it does in the
		 * broker's lookup */
		st = header_string(h, h->name + 3, &v, err);
		if (st == ORC_OK)
			st = set_attribute(ev, h->name + 3, v, err);
		if (st != ORC_OK)
			return st;
	}
	return ORC_OK;
}

/* Structured mode: the attributes are root's members. */
static enum orc_status
collect_structured(struct orc_event *ev, json_t *root, struct orc_error *err)
{
	const char *name;
	json_t *v;
	char b[SHOWN_SIZE];

	json_object_foreach(root, name, v) {
		enum orc_status st;
		char *s;

		/* JSON null is an absent attribute */
		if (json_is_null(v) || strcmp(name, "data") == 0 ||
		    strcmp(name, "data_base64") == 0 ||
		    strcmp(name, "traceparent") == 0)
			continue;
		if (json_is_string(v)) {
			s = strdup(json_string_value(v));
		} else if (known_find(name) != NULL) {
			return orc_error_set(err, ORC_INVALID,
					     "attribute \"%s\" is not a string",
					     name);
		} else if (json_is_integer(v)) {
			char num[32];

			snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
				 json_integer_value(v));
			s = strdup(num);
		} else if (json_is_boolean(v)) {
			s = strdup(json_is_true(v) ? "true" : "false");
		} else {
			return orc_error_set(err, ORC_INVALID,
					     "attribute \"%s\" is not a string, "
					     "integer or boolean",
					     shown(name, b));
		}
		if (s == NULL)
			return oom(err);
		st = set_attribute(ev, name, s, err);
		if (st != ORC_OK)
			return st;
	}
	return ORC_OK;
}


/*
 * A reply's sagastep: a step name, or a map item's "<step>[<index>]"
 * (decimal, no sign, no leading zero, below ORC_MAP_ITEMS_MAX).
 */
static bool
sagastep_valid(const char *s)
{
	const char *open = strchr(s, '[');
	char name[ORC_NAME_MAX];
	size_t len, digits;

	if (open == NULL)
		return orc_text_name_valid(s);
	len = (size_t)(open - s);
	if (len >= sizeof(name))
		return false;
	memcpy(name, s, len);
	name[len] = '\0';
	if (!orc_text_name_valid(name))
		return false;
	for (digits = 0; open[1 + digits] >= '0' && open[1 + digits] <= '9';
	     digits++)
		if (digits == 6)
			return false;
	if (digits == 0 || (digits > 1 && open[1] == '0') ||
	    strcmp(open + 1 + digits, "]") != 0)
		return false;
	return strtol(open + 1, NULL, 10) < ORC_MAP_ITEMS_MAX;
}

/* The one place attribute values are checked, in a fixed order. */
static enum orc_status
check_attributes(struct orc_event *ev, struct orc_error *err)
{
	static const char *const required[] = {"id", "source", "type"};
	char b[SHOWN_SIZE];

	if (ev->specversion == NULL)
		return orc_error_set(err, ORC_INVALID,
				     "missing required attribute "
				     "\"specversion\"");
	if (strcmp(ev->specversion, "1.0") != 0)
		return orc_error_set(err, ORC_INVALID,
				     "unsupported specversion \"%s\"",
				     shown(ev->specversion, b));
	for (size_t i = 0; i < 3; i++) {
		const char *v = orc_event_attribute(ev, required[i]);

		if (v == NULL)
			return orc_error_set(err, ORC_INVALID,
					     "missing required attribute \"%s\"",
					     required[i]);
		if (*v == '\0')
			return orc_error_set(err, ORC_INVALID,
					     "attribute \"%s\" is empty",
					     required[i]);
	}
	/* a URI-reference has no blank or control character (RFC 3986) */
	for (const char *p = ev->source; *p != '\0'; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f)
			return orc_error_set(err, ORC_INVALID,
					     "attribute \"source\" is not a "
					     "URI-reference");
	for (size_t i = 0;
	     i < sizeof(nonempty_optional) / sizeof(nonempty_optional[0]);
	     i++) {
		const char *v = orc_event_attribute(ev, nonempty_optional[i]);

		if (v != NULL && *v == '\0')
			return orc_error_set(err, ORC_INVALID,
					     "attribute \"%s\" is empty",
					     nonempty_optional[i]);
	}
	if (ev->sagaid != NULL) {
		if (!orc_text_uuid_valid(ev->sagaid))
			return orc_error_set(err, ORC_INVALID,
					     "attribute \"sagaid\" is not a "
					     "UUID");
		for (char *p = ev->sagaid; *p != '\0'; p++)
			if (*p >= 'A' && *p <= 'F')
				*p = (char)(*p - 'A' + 'a');
	}
	if (ev->sagastep != NULL && !sagastep_valid(ev->sagastep))
		return orc_error_set(err, ORC_INVALID,
				     "attribute \"sagastep\" is not a valid "
				     "step name");
	return ORC_OK;
}

/* ev->data from p[0..n), which the content type says is JSON. */
static enum orc_status
data_from_json(struct orc_event *ev, const void *p, size_t n,
	       struct orc_error *err)
{
	json_error_t jerr;

	if (p == NULL || n == 0) {
		ev->data = json_null();
		return ORC_OK;
	}
	ev->data = json_loadb(p, n, JSON_DECODE_ANY, &jerr);
	if (ev->data != NULL)
		return ORC_OK;
	if (json_error_code(&jerr) == json_error_out_of_memory)
		return oom(err);
	return orc_error_set(err, ORC_INVALID,
			     "data is not valid JSON: %s at line %d column %d",
			     jerr.text, jerr.line, jerr.column);
}

/* ev->data from p[0..n) of a content type that is not JSON. */
static enum orc_status
data_from_bytes(struct orc_event *ev, const void *p, size_t n,
		struct orc_error *err)
{
	if (p == NULL || n == 0) {
		ev->data = json_null();
		return ORC_OK;
	}
	if (memchr(p, '\0', n) == NULL && orc_text_utf8_valid(p, n)) {
		ev->data = json_stringn(p, n);
	} else {
		size_t len;
		char *b64 = orc_text_base64_encode(p, n, &len);

		if (b64 != NULL)
			ev->data = json_stringn_nocheck(b64, len);
		free(b64);
		ev->data_base64 = true;
	}
	return ev->data == NULL ? oom(err) : ORC_OK;
}

/* Structured mode: the data is "data" or "data_base64" of root. */
static enum orc_status
structured_data(struct orc_event *ev, json_t *root, struct orc_error *err)
{
	json_t *data = json_object_get(root, "data");
	json_t *b64 = json_object_get(root, "data_base64");
	unsigned char *bytes;
	size_t len;
	enum orc_status st;

	if (json_is_null(data))
		data = NULL;
	if (json_is_null(b64))
		b64 = NULL;
	if (data != NULL && b64 != NULL)
		return orc_error_set(err, ORC_INVALID,
				     "attributes \"data\" and \"data_base64\" "
				     "are mutually exclusive");
	if (b64 == NULL) {
		ev->data = data != NULL ? json_incref(data) : json_null();
		return ORC_OK;
	}
	if (!json_is_string(b64))
		return orc_error_set(err, ORC_INVALID,
				     "attribute \"data_base64\" is not a "
				     "string");
	st = orc_text_base64_decode(json_string_value(b64), json_string_length(b64),
			   &bytes, &len);
	if (st == ORC_INVALID)
		return orc_error_set(err, ORC_INVALID,
				     "attribute \"data_base64\" is not valid "
				     "base64");
	if (st != ORC_OK)
		return oom(err);
	if (media_is_json(ev->datacontenttype))
		st = data_from_json(ev, bytes, len, err);
	else
		st = data_from_bytes(ev, bytes, len, err);
	free(bytes);
	return st;
}

/* The last header named name (case-insensitively), or NULL. */
static const struct orc_header *
header_find(const struct orc_header *headers, size_t n, const char *name)
{
	const struct orc_header *found = NULL;

	for (size_t i = 0; i < n; i++)
		if (headers[i].name != NULL &&
		    strcasecmp(headers[i].name, name) == 0)
			found = &headers[i];
	return found;
}

/* The sizes checked before anything is read. */
static enum orc_status
check_sizes(const struct orc_header *headers, size_t n_headers,
	    const void *key, size_t key_len, struct orc_error *err)
{
	size_t bytes = 0;

	if (n_headers > ORC_ENVELOPE_HEADERS_MAX)
		return orc_error_set(err, ORC_INVALID,
				     "%zu headers, more than %d", n_headers,
				     ORC_ENVELOPE_HEADERS_MAX);
	for (size_t i = 0; i < n_headers; i++)
		bytes += (headers[i].name != NULL ? strlen(headers[i].name)
						  : 0) +
			 (headers[i].value != NULL ? headers[i].size : 0);
	if (bytes > ORC_ENVELOPE_HEADER_BYTES_MAX)
		return orc_error_set(err, ORC_INVALID,
				     "headers are %zu bytes in all, more than "
				     "%d",
				     bytes, ORC_ENVELOPE_HEADER_BYTES_MAX);
	if (key != NULL && key_len > ORC_ENVELOPE_KEY_MAX)
		return orc_error_set(err, ORC_INVALID,
				     "key is %zu bytes, longer than %d",
				     key_len, ORC_ENVELOPE_KEY_MAX);
	return ORC_OK;
}

static bool
header_present(const struct orc_header *headers, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (headers[i].name != NULL &&
		    strcmp(headers[i].name, name) == 0)
			return true;
	return false;
}

static enum orc_status
parse_binary(struct orc_event *ev, const void *value, size_t value_len,
	     const struct orc_header *headers, size_t n_headers,
	     char *content_type, struct orc_error *err)
{
	const struct orc_header *ce_tp = NULL;
	enum orc_status st;

	ev->mode = ORC_EVENT_MODE_BINARY;
	st = collect_binary(ev, headers, n_headers, &ce_tp, err);
	if (st != ORC_OK) {
		free(content_type);
		return st;
	}
	if (content_type != NULL) {
		free(ev->datacontenttype);
		ev->datacontenttype = content_type;
	}
	st = check_attributes(ev, err);
	if (st == ORC_OK && ce_tp != NULL)
		st = take_traceparent(ev, ce_tp->value, ce_tp->size, err);
	if (st != ORC_OK)
		return st;
	if (media_is_json(ev->datacontenttype))
		return data_from_json(ev, value, value_len, err);
	return data_from_bytes(ev, value, value_len, err);
}

/* root is taken. */
static enum orc_status
parse_structured(struct orc_event *ev, json_t *root, struct orc_error *err)
{
	json_t *tp = json_object_get(root, "traceparent");
	enum orc_status st;

	ev->mode = ORC_EVENT_MODE_STRUCTURED;
	st = collect_structured(ev, root, err);
	if (st == ORC_OK)
		st = check_attributes(ev, err);
	if (st == ORC_OK && json_is_string(tp))
		st = take_traceparent(ev, json_string_value(tp),
				      json_string_length(tp), err);
	if (st == ORC_OK)
		st = structured_data(ev, root, err);
	json_decref(root);
	return st;
}

static enum orc_status
load_structured(const void *value, size_t value_len, json_t **root,
		struct orc_error *err)
{
	json_error_t jerr;

	*root = value != NULL ? json_loadb(value, value_len, 0, &jerr) : NULL;
	if (*root != NULL)
		return ORC_OK;
	if (value == NULL)
		return orc_error_set(err, ORC_INVALID,
				     "structured event has no value");
	if (json_error_code(&jerr) == json_error_out_of_memory)
		return oom(err);
	return orc_error_set(err, ORC_INVALID,
			     "structured event is not a valid JSON object: %s "
			     "at line %d column %d",
			     jerr.text, jerr.line, jerr.column);
}

static enum orc_status
copy_key(struct orc_event *ev, const void *key, size_t key_len,
	 struct orc_error *err)
{
	if (key == NULL)
		return ORC_OK;
	ev->key = malloc(key_len + 1);
	if (ev->key == NULL)
		return oom(err);
	memcpy(ev->key, key, key_len);
	ev->key[key_len] = '\0';
	ev->key_len = key_len;
	return ORC_OK;
}

static enum orc_status
make_dedup_id(struct orc_event *ev, struct orc_error *err)
{
	size_t ns = strlen(ev->source), ni = strlen(ev->id);

	ev->dedup_id = malloc(ns + 1 + ni + 1);
	if (ev->dedup_id == NULL)
		return oom(err);
	memcpy(ev->dedup_id, ev->source, ns);
	ev->dedup_id[ns] = ' ';
	memcpy(ev->dedup_id + ns + 1, ev->id, ni + 1);
	return ORC_OK;
}

enum orc_status
orc_event_parse(struct orc_event *ev, const void *value, size_t value_len,
		const void *key, size_t key_len,
		const struct orc_header *headers, size_t n_headers,
		struct orc_error *err)
{
	const struct orc_header *tp_header;
	char *content_type = NULL;
	json_t *root = NULL;
	enum orc_status st;
	char b[SHOWN_SIZE];

	memset(ev, 0, sizeof(*ev));
	if (headers == NULL)
		n_headers = 0;
	st = check_sizes(headers, n_headers, key, key_len, err);
	if (st != ORC_OK)
		goto fail;
	st = header_string(header_find(headers, n_headers, "content-type"),
			   "datacontenttype", &content_type, err);
	if (st == ORC_OK && content_type != NULL &&
	    strlen(content_type) > ORC_ENVELOPE_CONTENT_TYPE_MAX)
		st = too_long("attribute", "datacontenttype",
			      strlen(content_type),
			      ORC_ENVELOPE_CONTENT_TYPE_MAX, err);
	if (st != ORC_OK)
		goto fail;

	if (content_type != NULL && media_is_cloudevents(content_type)) {
		if (!media_is(content_type, "application/cloudevents+json")) {
			st = orc_error_set(err, ORC_INVALID,
					   "unsupported event format \"%s\"",
					   shown(content_type, b));
			goto fail;
		}
		free(content_type);
		content_type = NULL;
		st = load_structured(value, value_len, &root, err);
		if (st != ORC_OK)
			goto fail;
		if (!json_is_object(root)) {
			json_decref(root);
			st = orc_error_set(err, ORC_INVALID,
					   "structured event is not a JSON "
					   "object");
			goto fail;
		}
		st = parse_structured(ev, root, err);
	} else if (header_present(headers, n_headers, "ce_specversion")) {
		/* content_type is taken */
		st = parse_binary(ev, value, value_len, headers, n_headers,
				  content_type, err);
		content_type = NULL;
	} else {
		free(content_type);
		content_type = NULL;
		if (value != NULL)
			root = json_loadb(value, value_len, 0, NULL);
		if (!json_is_object(root) ||
		    json_object_get(root, "specversion") == NULL) {
			json_decref(root);
			st = orc_error_set(err, ORC_INVALID,
					   "value is neither a binary-mode "
					   "CloudEvent (no ce_specversion "
					   "header) nor a structured one");
			goto fail;
		}
		st = parse_structured(ev, root, err);
	}
	if (st != ORC_OK)
		goto fail;

	/* the traceparent header wins over the attribute */
	tp_header = header_find(headers, n_headers, "traceparent");
	if (tp_header != NULL && tp_header->value != NULL) {
		char *old = ev->traceparent;

		ev->traceparent = NULL;
		st = take_traceparent(ev, tp_header->value, tp_header->size,
				      err);
		if (ev->traceparent == NULL)
			ev->traceparent = old;
		else
			free(old);
		if (st != ORC_OK)
			goto fail;
	}
	st = copy_key(ev, key, key_len, err);
	if (st == ORC_OK)
		st = make_dedup_id(ev, err);
	if (st != ORC_OK)
		goto fail;
	return ORC_OK;

fail:
	free(content_type);
	orc_event_finish(ev);
	return st;
}

static size_t
put(struct orc_header *out, size_t n, const char *name, const char *value)
{
	if (value == NULL)
		return n;
	out[n].name = name;
	out[n].value = value;
	out[n].size = strlen(value);
	return n + 1;
}

size_t
orc_envelope_command_headers(struct orc_envelope_command *cmd,
			     struct orc_header *out)
{
	size_t n = 0;

	orc_text_rfc3339(cmd->time_ms, cmd->time);
	n = put(out, n, "ce_specversion", "1.0");
	n = put(out, n, "ce_id", cmd->id);
	n = put(out, n, "ce_source", cmd->source);
	n = put(out, n, "ce_type", cmd->type);
	n = put(out, n, "ce_time", cmd->time);
	n = put(out, n, "content-type", "application/json");
	n = put(out, n, "ce_sagaid", cmd->sagaid);
	n = put(out, n, "ce_sagastep", cmd->sagastep);
	n = put(out, n, "ce_replyto", cmd->replyto);
	if (orc_text_traceparent_valid(cmd->traceparent))
		n = put(out, n, "traceparent", cmd->traceparent);
	return n;
}
