/*
 * seed_envelope.c - turn CloudEvent fixtures (JSON event format) into seeds
 * for fuzz_envelope, in its framing (see fuzz_envelope.c):
 *
 *   seed_envelope OUTDIR FILE...
 *
 * writes, for each FILE, three messages: <name>.structured (content-type
 * application/cloudevents+json), <name>.bare (structured, no header) and
 * <name>.binary (each attribute a ce_ header, datacontenttype the
 * content-type header, data the value).  A file that is not a JSON object
 * gets the first two only.  run.sh calls it at run time, so the corpus
 * follows the fixtures and nothing generated is committed.
 */
#include <jansson.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

static FILE *
open_seed(const char *dir, const char *path, const char *suffix)
{
	char *copy = strdup(path);
	char out[4096];
	FILE *f;

	if (copy == NULL)
		return NULL;
	snprintf(out, sizeof(out), "%s/%s.%s", dir, basename(copy), suffix);
	free(copy);
	f = fopen(out, "wb");
	if (f == NULL)
		perror(out);
	return f;
}

static int
write_structured(const char *dir, const char *path, const char *text,
		 size_t len)
{
	FILE *s = open_seed(dir, path, "structured");
	FILE *b = open_seed(dir, path, "bare");
	int rc = s != NULL && b != NULL ? 0 : 1;

	if (s != NULL) {
		fputs("Hcontent-type:application/cloudevents+json\n\n", s);
		fwrite(text, 1, len, s);
		fclose(s);
	}
	if (b != NULL) {
		fputs("\n", b);
		fwrite(text, 1, len, b);
		fclose(b);
	}
	return rc;
}

/* An attribute as a header value: strings as they are, others as JSON. */
static void
put_header(FILE *f, const char *name, json_t *v)
{
	char *text;

	if (json_is_string(v)) {
		fprintf(f, "Hce_%s:%s\n", name, json_string_value(v));
		return;
	}
	text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
	if (text != NULL)
		fprintf(f, "Hce_%s:%s\n", name, text);
	free(text);
}

static int
write_binary(const char *dir, const char *path, json_t *event)
{
	json_t *data = json_object_get(event, "data");
	json_t *b64 = json_object_get(event, "data_base64");
	const char *name;
	json_t *v;
	FILE *f = open_seed(dir, path, "binary");

	if (f == NULL)
		return 1;
	json_object_foreach(event, name, v) {
		if (strcmp(name, "data") == 0 ||
		    strcmp(name, "data_base64") == 0)
			continue;
		if (strcmp(name, "datacontenttype") == 0 && json_is_string(v))
			fprintf(f, "Hcontent-type:%s\n", json_string_value(v));
		else
			put_header(f, name, v);
	}
	fputs("Kkey-1\n\n", f);
	if (json_is_string(b64)) {
		unsigned char *bytes;
		size_t n;

		if (orc_text_base64_decode(json_string_value(b64),
					   json_string_length(b64), &bytes,
					   &n) == ORC_OK) {
			fwrite(bytes, 1, n, f);
			free(bytes);
		}
	} else if (data != NULL) {
		json_dumpf(data, f, JSON_ENCODE_ANY | JSON_COMPACT);
	}
	fclose(f);
	return 0;
}

int
main(int argc, char **argv)
{
	int rc = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: seed_envelope OUTDIR FILE...\n");
		return 2;
	}
	for (int i = 2; i < argc; i++) {
		json_error_t jerr;
		json_t *event;
		char *text;
		size_t len;
		FILE *f = fopen(argv[i], "rb");

		if (f == NULL) {
			perror(argv[i]);
			rc = 1;
			continue;
		}
		event = json_loadf(f, JSON_DECODE_ANY, &jerr);
		fclose(f);
		if (event == NULL) {
			fprintf(stderr, "%s: %s\n", argv[i], jerr.text);
			rc = 1;
			continue;
		}
		text = json_dumps(event, JSON_ENCODE_ANY | JSON_COMPACT);
		len = text ? strlen(text) : 0;
		rc |= write_structured(argv[1], argv[i], text ? text : "", len);
		if (json_is_object(event))
			rc |= write_binary(argv[1], argv[i], event);
		free(text);
		json_decref(event);
	}
	return rc;
}
