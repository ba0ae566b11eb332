/*
 * libssa's face: the exported socket calls, and the engine module they load (ssa_engine_load.c).
 */
#ifndef SSA_FACE_H
#define SSA_FACE_H

#include "ssa_engine_ops.h"

#define SSA_FACE_HIDDEN __attribute__((visibility("hidden")))

/* The module, or NULL while no TLS was asked for (or it could not be loaded). */
SSA_FACE_HIDDEN const struct ssa_engine_ops *ssa_engine_loaded(void);
/* Loads the module on first use; NULL, with one line on stderr, if it cannot be. */
SSA_FACE_HIDDEN const struct ssa_engine_ops *ssa_engine_load(void);

#endif /* SSA_FACE_H */
