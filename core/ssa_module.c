/*
 * What the engine module (ssa-engine.so) offers libssa's face: its one exported object.
 */
#include "ssa_engine_ops.h"
#include "ssa_internal.h"

__attribute__((visibility("default"))) const struct ssa_engine_ops ssa_engine_module = {
    .abi = SSA_ENGINE_ABI,
    .version = PACKAGE_VERSION,
    .socket = ssa_api_socket,
    .connect = ssa_api_connect,
    .bind = ssa_api_bind,
    .listen = ssa_api_listen,
    .accept4 = ssa_api_accept4,
    .setsockopt = ssa_api_setsockopt,
    .getsockopt = ssa_api_getsockopt,
    .getsockname = ssa_api_getsockname,
    .getpeername = ssa_api_getpeername,
    .shutdown = ssa_api_shutdown,
    .sendto = ssa_api_sendto,
    .close = ssa_api_close,
    .is_tls = ssa_api_is_tls,
    .last_error = ssa_api_last_error,
};
