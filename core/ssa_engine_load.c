/*
 * Finding and loading the engine module, once, when a program first asks for TLS.
 *
 * The module sits beside the face that loads it: $(libdir)/ssa/ssa-engine.so for an installed
 * libssa.so, or the same directory in a build tree.  It is found from the face's own path, not
 * from an environment variable, so no one can make a program load other code through it.
 */
#define _GNU_SOURCE /* dladdr */
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "ssa_engine_ops.h"
#include "ssa_face.h"

static const struct ssa_engine_ops *engine;
static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static const char face_anchor; /* an address inside libssa.so, whatever the program exports */

/*
 * RTLD_DEEPBIND: the module's calls go to its own libraries first, so a program that defines
 * config_init() (lighttpd does) or SSL_read() cannot take them over.  AddressSanitizer refuses
 * it (it must see every allocation), so sanitized test builds bind as usual.
 */
static int module_flags(void)
{
	int flags = RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE;

	return dlsym(RTLD_DEFAULT, "__asan_init") != NULL ? flags : flags | RTLD_DEEPBIND;
}

/* dir: the face's own directory.  Installed, the module is in ssa/ below it; built, beside it. */
static void *open_module(const char *dir, char *path, size_t size)
{
	void *handle;

	snprintf(path, size, "%s/ssa/%s", dir, SSA_ENGINE_FILE);
	handle = dlopen(path, module_flags());
	if (handle == NULL) {
		snprintf(path, size, "%s/%s", dir, SSA_ENGINE_FILE);
		handle = dlopen(path, module_flags());
	}
	return handle;
}

static const struct ssa_engine_ops *check_module(void *handle, const char *path)
{
	const struct ssa_engine_ops *ops = dlsym(handle, SSA_ENGINE_SYMBOL);

	if (ops == NULL) {
		fprintf(stderr, "ssa: TLS sockets unavailable: %s has no %s\n", path,
			SSA_ENGINE_SYMBOL);
		return NULL;
	}
	if (ops->abi != SSA_ENGINE_ABI || strcmp(ops->version, PACKAGE_VERSION) != 0) {
		fprintf(stderr, "ssa: TLS sockets unavailable: %s is version %s, libssa is %s\n",
			path, ops->version, PACKAGE_VERSION);
		return NULL;
	}
	return ops;
}

static void load_engine(void)
{
	char dir[PATH_MAX], path[PATH_MAX + 32];
	Dl_info info;
	void *handle;
	char *slash;

	if (dladdr(&face_anchor, &info) == 0 || info.dli_fname == NULL) {
		fprintf(stderr, "ssa: TLS sockets unavailable: libssa cannot find its own path\n");
		return;
	}
	snprintf(dir, sizeof(dir), "%s", info.dli_fname);
	slash = strrchr(dir, '/');
	if (slash != NULL)
		*slash = '\0';
	else
		snprintf(dir, sizeof(dir), ".");
	handle = open_module(dir, path, sizeof(path));
	if (handle == NULL) {
		fprintf(stderr, "ssa: TLS sockets unavailable: cannot load the engine: %s\n",
			dlerror());
		return;
	}
	__atomic_store_n(&engine, check_module(handle, path), __ATOMIC_RELEASE);
}

const struct ssa_engine_ops *ssa_engine_loaded(void)
{
	return __atomic_load_n(&engine, __ATOMIC_ACQUIRE);
}

const struct ssa_engine_ops *ssa_engine_load(void)
{
	pthread_once(&load_once, load_engine);
	return ssa_engine_loaded();
}
