// libresolv for AviaryDNS: res_ninit/res_nclose are macros, and so are the ns_msg accessors.
#ifndef CAVIARY_RESOLV_SHIM_H
#define CAVIARY_RESOLV_SHIM_H

#include <sys/types.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <resolv.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>

/// A resolver state of its own (res_state points into itself, so it lives on the heap). NULL on failure.
static inline struct __res_state *aviary_res_open(void) {
    struct __res_state *state = calloc(1, sizeof(struct __res_state));
    if (state == NULL) return NULL;
    if (res_ninit(state) != 0) { free(state); return NULL; }
    return state;
}

static inline void aviary_res_free(struct __res_state *state) {
    res_nclose(state);
    free(state);
}

/// Sends queries to one server (tests: a dnsmasq on 127.0.0.1:5353) instead of resolv.conf's.
static inline int aviary_res_set_server(struct __res_state *state, const char *address, int port) {
    struct in_addr parsed;
    if (inet_pton(AF_INET, address, &parsed) != 1) return -1;
    state->nsaddr_list[0].sin_family = AF_INET;
    state->nsaddr_list[0].sin_addr = parsed;
    state->nsaddr_list[0].sin_port = htons((unsigned short)port);
    state->nscount = 1;
    return 0;
}

static inline void aviary_res_set_timeout(struct __res_state *state, int seconds, int attempts) {
    state->retrans = seconds;
    state->retry = attempts;
}

/// res_nquery; *herrno receives the resolver's h_errno (HOST_NOT_FOUND, NO_DATA, TRY_AGAIN, NO_RECOVERY).
static inline int aviary_res_query(struct __res_state *state, const char *name, int type,
                                   unsigned char *answer, int length, int *herrno) {
    int result = res_nquery(state, name, ns_c_in, type, answer, length);
    *herrno = state->res_h_errno;
    return result;
}

static inline int aviary_ns_answer_count(const unsigned char *message, int length) {
    ns_msg handle;
    if (ns_initparse(message, length, &handle) != 0) return -1;
    return ns_msg_count(handle, ns_s_an);
}

/// The answer section's record `index`: its type and where its data lies. 0 on success, -1 on a malformed message.
static inline int aviary_ns_answer_record(const unsigned char *message, int length, int index,
                                          int *type, int *dataOffset, int *dataLength) {
    ns_msg handle;
    ns_rr record;
    if (ns_initparse(message, length, &handle) != 0) return -1;
    if (ns_parserr(&handle, ns_s_an, index, &record) != 0) return -1;
    *type = ns_rr_type(record);
    *dataOffset = (int)(ns_rr_rdata(record) - message);
    *dataLength = ns_rr_rdlen(record);
    return 0;
}

/// Expands the (possibly compressed) domain name at `offset` into `name` ("." for the root). -1 when malformed.
static inline int aviary_ns_name_at(const unsigned char *message, int length, int offset, char *name, int size) {
    if (offset < 0 || offset >= length) return -1;
    return ns_name_uncompress(message, message + length, message + offset, name, (size_t)size) < 0 ? -1 : 0;
}

#endif
