// Cyrus SASL (libsasl2) for AviarySASL, the only module that imports this one.
//
// sasl_callback_t stores every callback as `int (*)(void)`; these helpers take the callback's real type, so
// Swift checks the closure's signature and no function-pointer cast happens on the Swift side.
#ifndef CAVIARY_SASL_SHIM_H
#define CAVIARY_SASL_SHIM_H

#include <sasl/sasl.h>
#include <sasl/saslutil.h>

static inline sasl_callback_t aviary_sasl_getopt_callback(sasl_getopt_t *proc, void *context) {
    sasl_callback_t callback = { SASL_CB_GETOPT, (int (*)(void))proc, context };
    return callback;
}

static inline sasl_callback_t aviary_sasl_log_callback(sasl_log_t *proc, void *context) {
    sasl_callback_t callback = { SASL_CB_LOG, (int (*)(void))proc, context };
    return callback;
}

static inline sasl_callback_t aviary_sasl_checkpass_callback(sasl_server_userdb_checkpass_t *proc, void *context) {
    sasl_callback_t callback = { SASL_CB_SERVER_USERDB_CHECKPASS, (int (*)(void))proc, context };
    return callback;
}

static inline sasl_callback_t aviary_sasl_proxy_policy_callback(sasl_authorize_t *proc, void *context) {
    sasl_callback_t callback = { SASL_CB_PROXY_POLICY, (int (*)(void))proc, context };
    return callback;
}

static inline sasl_callback_t aviary_sasl_end_callback(void) {
    sasl_callback_t callback = { SASL_CB_LIST_END, NULL, NULL };
    return callback;
}

#endif
