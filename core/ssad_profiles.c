/*
 * ssad: profiles by caller.  Every caller gets the profile that applies to it in ssad's policy
 * file (its users, unix-groups and executable); callers with the same profile share one
 * object, and with it one client context, trust store and session cache namespace of the
 * profile (SSL_CTX per profile).  A profile is known by its position in the file, since two
 * may share a match and differ in whom they serve.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ssad.h"

#define PROFILES_MAX 256

static pthread_mutex_t profiles_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ssa_policy *profiles[PROFILES_MAX];
static unsigned nprofiles;

const struct ssa_policy *ssad_profile_for(const struct ssa_policy_caller *who, char *err,
					  size_t err_size)
{
	struct ssa_policy *p = malloc(sizeof(*p)), *found = NULL;
	int rc;

	if (p == NULL) {
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	rc = ssad_config.config_path != NULL
		 ? ssa_policy_load(ssad_config.config_path, who, p, err, err_size)
		 : ssa_policy_defaults(p);
	if (rc < 0) {
		free(p);
		return NULL;
	}
	pthread_mutex_lock(&profiles_lock);
	for (unsigned i = 0; i < nprofiles && found == NULL; i++)
		if (profiles[i]->index == p->index)
			found = profiles[i];
	if (found == NULL && nprofiles < PROFILES_MAX)
		found = profiles[nprofiles++] = p;
	pthread_mutex_unlock(&profiles_lock);
	if (found != p) {
		ssa_policy_free(p);
		free(p);
	}
	if (found == NULL)
		snprintf(err, err_size, "too many profiles");
	return found;
}
