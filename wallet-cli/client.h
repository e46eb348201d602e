/* A blocking client of a stadjerd node: one TCP connection carrying the
 * secure channel, requests answered in order. Used by the wallet CLI and
 * by the integration tests. */
#ifndef SP_CLIENT_H
#define SP_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "sp/msg.h"

struct sp_client;

/* Connect and authenticate as a wallet. 0, or -1 with a reason in err
 * ("connection refused", "authentication failed: ..."). */
int sp_client_connect(struct sp_client **out, const char *host, int port,
                      const uint8_t chain_id[SP_HASH_LEN], const uint8_t pk[SP_PK_LEN],
                      const uint8_t sk[SP_SK_LEN], int timeout_ms, char *err, size_t errcap);
void sp_client_close(struct sp_client *c); /* accepts NULL */

/* Answers received are kept by the client: an answer's views stay valid
 * until SP_CLIENT_KEPT more answers have been received (by sp_client_call:
 * its own answers only; by sp_client_recv: every message), or close. */
#define SP_CLIENT_KEPT 4

/* Send req (its req_id is set here) and wait up to timeout_ms for the answer
 * with the same request id; other messages are skipped. Release the answer
 * with sp_msg_clear. 0, or -1 with a reason in err. */
int sp_client_call(struct sp_client *c, struct sp_msg *req, struct sp_msg *resp,
                   int timeout_ms, char *err, size_t errcap);

/* Pipelining: send a request now (its req_id is set and returned), read
 * answers later with sp_client_recv, which returns the next message of
 * any request id (views valid until the next call). */
int sp_client_send(struct sp_client *c, struct sp_msg *req, uint32_t *req_id);
int sp_client_recv(struct sp_client *c, struct sp_msg *resp, int timeout_ms, char *err,
                   size_t errcap);

/* Send raw bytes on the secure channel (tests: malformed messages). */
int sp_client_send_raw(struct sp_client *c, const uint8_t *p, size_t n);
/* The same, queued: the messages leave together, in one record and one
 * system call, when 64 KiB are queued, on sp_client_flush, or before any
 * read. */
int sp_client_queue_raw(struct sp_client *c, const uint8_t *p, size_t n);
int sp_client_flush(struct sp_client *c);

#endif
