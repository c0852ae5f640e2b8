/*
 * envelope.h - CloudEvents 1.0 over Kafka (the Kafka protocol binding).
 *
 * Reading: orc_event_parse() turns one consumed Kafka message (value, key,
 * headers) into a checked struct orc_event.  Both content modes are read:
 *
 *   binary      a ce_specversion header is present: the attributes are the
 *               ce_<name> headers, datacontenttype is the content-type
 *               header, and the value is the data;
 *   structured  the content-type header is application/cloudevents+json
 *               (parameters such as ;charset=utf-8 allowed), or there is no
 *               ce_specversion header and the value is a JSON object with a
 *               "specversion" member: the value is a JSON event format
 *               object, data in "data" or "data_base64".
 *
 * A content type application/cloudevents+json wins over a ce_specversion
 * header, as the binding says.  Every failure to read or check a message is
 * ORC_INVALID (dead-letter it, never retry) with a message naming the
 * attribute; running out of memory is ORC_FATAL.
 *
 * Writing: orc_envelope_command_headers() fills the binary-mode headers of
 * a command the relay publishes, without allocating.
 *
 * Pure: jansson only, no I/O, no clock, no librdkafka.  The broker converts
 * its messages to and from the plain views used here.
 */
#ifndef ORC_ENVELOPE_H
#define ORC_ENVELOPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "error.h"

/*
 * Limits, in bytes unless said otherwise.  A message over one is
 * ORC_INVALID with a reason naming the attribute and the bound ("attribute
 * \"type\" is 300 bytes, longer than 256"), so it is dead-lettered, never
 * parsed in part.  They keep what we store and log per event small, and
 * are far above what a real event carries (README, "Limits").  An
 * over-long traceparent is dropped, as any invalid one is.
 */
#define ORC_ENVELOPE_HEADERS_MAX 128	   /* headers per message */
#define ORC_ENVELOPE_HEADER_BYTES_MAX 65536 /* their names + values */
#define ORC_ENVELOPE_KEY_MAX 4096	   /* the Kafka key */
#define ORC_ENVELOPE_ID_MAX 256
#define ORC_ENVELOPE_SOURCE_MAX 1024
#define ORC_ENVELOPE_TYPE_MAX 256
#define ORC_ENVELOPE_SUBJECT_MAX 1024
#define ORC_ENVELOPE_DATASCHEMA_MAX 1024
#define ORC_ENVELOPE_CONTENT_TYPE_MAX 256 /* datacontenttype */
#define ORC_ENVELOPE_TIME_MAX 64
#define ORC_ENVELOPE_SAGAID_MAX 36	  /* its format's: a UUID */
#define ORC_ENVELOPE_SAGASTEP_MAX 63	  /* its format's: a step name */
#define ORC_ENVELOPE_REPLYTO_MAX 249	  /* a Kafka topic name */
#define ORC_ENVELOPE_TRACEPARENT_MAX 512 /* longer: dropped */
#define ORC_ENVELOPE_EXT_MAX 100	  /* extension attributes (count) */
#define ORC_ENVELOPE_EXT_NAME_MAX 64
#define ORC_ENVELOPE_EXT_VALUE_MAX 1024

/* One Kafka header: a name and an opaque value (both borrowed). */
struct orc_header {
	const char *name;
	const void *value; /* may be NULL */
	size_t size;
};

enum orc_event_mode {
	ORC_EVENT_MODE_BINARY,
	ORC_EVENT_MODE_STRUCTURED,
};

/* "binary" or "structured", for logs.  Never NULL. */
const char *orc_event_mode_name(enum orc_event_mode mode);

/* An extension attribute other than sagaid, sagastep, replyto, traceparent. */
struct orc_event_ext {
	char *name;  /* without the ce_ prefix; [a-z0-9]+ (else invalid) */
	char *value; /* integers in decimal, booleans as "true"/"false" */
};

/*
 * A parsed, checked CloudEvent.  Every pointer is owned by the event and
 * freed by orc_event_finish(); callers that keep one past that copy it (for
 * data: json_incref()).  Optional attributes are NULL when absent; present
 * ones are valid UTF-8 with no NUL byte.  Of two headers of the same name
 * the last wins, as in the broker's header lookup: a last one with no
 * value (Kafka's null) makes the attribute absent.
 */
struct orc_event {
	enum orc_event_mode mode;
	char *specversion; /* always "1.0" */
	char *id;	   /* non-empty */
	char *source;	   /* non-empty, no whitespace or control character */
	char *type;	   /* non-empty */
	char *datacontenttype; /* NULL: JSON */
	char *dataschema;
	char *subject;
	char *time;	   /* as sent: RFC 3339, not checked (never read) */
	char *sagaid;	   /* a UUID, lowercased */
	char *sagastep;	   /* matches ^[a-z][a-z0-9_]{0,62}$ */
	char *replyto;
	/*
	 * The W3C traceparent: the traceparent header, else the ce_traceparent
	 * header (binary) or "traceparent" member (structured).  An invalid
	 * one is dropped, as Trace Context asks, rather than rejected.
	 */
	char *traceparent;
	struct orc_event_ext *ext; /* other attributes, in arrival order */
	size_t n_ext;
	/*
	 * The Kafka key (the binding's partitionkey), copied with a NUL
	 * appended; it may itself hold any bytes.  NULL when there was none.
	 */
	char *key;
	size_t key_len;
	/*
	 * The data, never NULL: JSON null when the event has none.  When
	 * datacontenttype is JSON (application/json, a media type ending in
	 * +json, or absent) it is the parsed value.  Otherwise it is a JSON
	 * string: the text when the bytes are UTF-8 without NUL, else their
	 * base64 with data_base64 set.  (Structured "data" is kept as the
	 * JSON it is.)
	 */
	json_t *data;
	bool data_base64;
	char *dedup_id; /* "<source> <id>", see orc_event_dedup_id() */
};

/*
 * Parse and check one Kafka message into *ev.  value/value_len is the
 * message value (NULL for a tombstone), key/key_len its key (NULL when it
 * has none), headers[0..n_headers) its headers (all of them: more than
 * ORC_ENVELOPE_HEADERS_MAX is invalid); all borrowed, values need not be
 * NUL-terminated.  *ev is overwritten (not freed first).  On ORC_OK it owns
 * everything it points to; free with orc_event_finish().  On failure *ev is
 * left empty (finishing it is harmless) and err says why:
 *   ORC_INVALID  not a CloudEvent we accept (message names the attribute)
 *   ORC_FATAL    out of memory
 */
enum orc_status orc_event_parse(struct orc_event *ev, const void *value,
				size_t value_len, const void *key,
				size_t key_len,
				const struct orc_header *headers,
				size_t n_headers, struct orc_error *err);

/* Free what ev owns and empty it; accepts NULL and an emptied event. */
void orc_event_finish(struct orc_event *ev);

/*
 * The inbox key: "<source> <id>" (borrowed from ev).  source + id is
 * unique per distinct event (CloudEvents); source never holds a space, so
 * the key is unambiguous.
 */
const char *orc_event_dedup_id(const struct orc_event *ev);

/*
 * The value of attribute name (a core attribute, sagaid, sagastep, replyto,
 * traceparent or any other extension), borrowed from ev; NULL when absent.
 * data is not an attribute.
 */
const char *orc_event_attribute(const struct orc_event *ev, const char *name);

/*
 * A command the relay publishes, in binary mode.  The caller fills the
 * inputs (borrowed: they must outlive the headers); time is filled by
 * orc_envelope_command_headers().  id, source and type are required; a
 * NULL sagaid, sagastep, replyto or traceparent leaves its header out.
 */
struct orc_envelope_command {
	const char *id;
	const char *source;
	const char *type;
	int64_t time_ms; /* ms since the epoch */
	const char *sagaid;
	const char *sagastep;
	const char *replyto;
	const char *traceparent;
	char time[32]; /* output: time_ms as RFC 3339 */
};

#define ORC_ENVELOPE_COMMAND_HEADERS 10

/*
 * Fill out[0..n) with cmd's headers and return n (at most
 * ORC_ENVELOPE_COMMAND_HEADERS): ce_specversion "1.0", ce_id, ce_source,
 * ce_type, ce_time, content-type application/json, ce_sagaid, ce_sagastep,
 * ce_replyto, traceparent.  Names and values point to static strings or
 * into *cmd (borrowed); sizes exclude the NUL.  Never allocates.
 */
size_t orc_envelope_command_headers(struct orc_envelope_command *cmd,
				    struct orc_header *out);

#endif
