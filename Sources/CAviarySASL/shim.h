// Cyrus SASL (libsasl2) for AviarySASL, the only module that imports this one.
//
// sasl_callback_t stores every callback as `int (*)(void)`; these helpers take the callback's real type, so
// Swift checks the closure's signature and no function-pointer cast happens on the Swift side.
#ifndef CAVIARY_SASL_SHIM_H
#define CAVIARY_SASL_SHIM_H

#include <pthread.h>
#include <stdlib.h>
#include <sasl/sasl.h>
#include <sasl/saslutil.h>

// Real mutexes for libsasl2's process-wide state (its defaults do nothing), so that calls for different
// connections may run on several threads at once. Installed before sasl_server_init.
static void *aviary_sasl_mutex_alloc(void) {
    pthread_mutex_t *mutex = malloc(sizeof *mutex);
    if (mutex && pthread_mutex_init(mutex, NULL) != 0) { free(mutex); return NULL; }
    return mutex;
}
static int aviary_sasl_mutex_lock(void *mutex) { return pthread_mutex_lock(mutex) == 0 ? SASL_OK : SASL_FAIL; }
static int aviary_sasl_mutex_unlock(void *mutex) { return pthread_mutex_unlock(mutex) == 0 ? SASL_OK : SASL_FAIL; }
static void aviary_sasl_mutex_free(void *mutex) { pthread_mutex_destroy(mutex); free(mutex); }

static inline void aviary_sasl_install_mutexes(void) {
    sasl_set_mutex(aviary_sasl_mutex_alloc, aviary_sasl_mutex_lock, aviary_sasl_mutex_unlock, aviary_sasl_mutex_free);
}

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
