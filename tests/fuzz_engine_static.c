/*
 * fuzz_engine_static.c -- for the fuzz targets that call libssa's face (fuzz_options.c): the
 * engine is linked into the target, so the face takes it from here instead of loading
 * ssa-engine.so from beside itself (core/ssa_engine_load.c), which a fuzz binary has not.
 * As the real loader: nothing is "loaded" until TLS is first asked for.
 */
#include "ssa_engine_ops.h"
#include "ssa_face.h"

extern const struct ssa_engine_ops ssa_engine_module; /* core/ssa_module.c */

static const struct ssa_engine_ops *engine;

const struct ssa_engine_ops *ssa_engine_loaded(void)
{
	return __atomic_load_n(&engine, __ATOMIC_ACQUIRE);
}

const struct ssa_engine_ops *ssa_engine_load(void)
{
	__atomic_store_n(&engine, &ssa_engine_module, __ATOMIC_RELEASE);
	return &ssa_engine_module;
}
