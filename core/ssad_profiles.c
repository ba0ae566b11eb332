/*
 * ssad: profiles by executable.  Every caller gets the profile of its executable from ssad's
 * policy file; callers with the same profile share one object, and with it one client
 * context, trust store and session cache namespace of the profile (SSL_CTX per profile).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ssad.h"

#define PROFILES_MAX 256
#define CHOICES_MAX  1024 /* executables whose profile is remembered */

static pthread_mutex_t profiles_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ssa_policy *profiles[PROFILES_MAX];
static unsigned nprofiles;

/*
 * The profile each executable got, so that a connection costs no parse of the policy file
 * (ssad reads it once, at start-up).  The key is everything the choice depends on.  Bounded:
 * when full, the oldest choice gives way (a user running many copies of a program under
 * new names makes only its own connections parse again).
 */
struct choice {
	char *key;
	const struct ssa_policy *profile;
};

static pthread_mutex_t choices_lock = PTHREAD_MUTEX_INITIALIZER;
static struct choice choices[CHOICES_MAX];
static unsigned nchoices, next_victim;

static const struct ssa_policy *chosen_before(const char *key)
{
	const struct ssa_policy *p = NULL;

	pthread_mutex_lock(&choices_lock);
	for (unsigned i = 0; i < nchoices && p == NULL; i++)
		if (strcmp(choices[i].key, key) == 0)
			p = choices[i].profile;
	pthread_mutex_unlock(&choices_lock);
	return p;
}

static void remember_choice(const char *key, const struct ssa_policy *p)
{
	char *copy = strdup(key);
	struct choice *c;

	if (copy == NULL)
		return; /* the next caller parses again */
	pthread_mutex_lock(&choices_lock);
	if (nchoices < CHOICES_MAX) {
		c = &choices[nchoices++];
	} else {
		c = &choices[next_victim];
		next_victim = (next_victim + 1) % CHOICES_MAX;
		free(c->key);
	}
	c->key = copy;
	c->profile = p;
	pthread_mutex_unlock(&choices_lock);
}

static const struct ssa_policy *load_profile(const char *exe, char *err, size_t err_size)
{
	struct ssa_policy *p = malloc(sizeof(*p)), *found = NULL;
	int rc;

	if (p == NULL) {
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	rc = ssad_config.config_path != NULL
		 ? ssa_policy_load(ssad_config.config_path, exe, p, err, err_size)
		 : ssa_policy_defaults(p);
	if (rc < 0) {
		free(p);
		return NULL;
	}
	pthread_mutex_lock(&profiles_lock);
	for (unsigned i = 0; i < nprofiles && found == NULL; i++)
		if (strcmp(profiles[i]->profile, p->profile) == 0)
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

const struct ssa_policy *ssad_profile_for(const char *exe, char *err, size_t err_size)
{
	const struct ssa_policy *p = chosen_before(exe);

	if (p != NULL)
		return p;
	p = load_profile(exe, err, err_size);
	if (p != NULL)
		remember_choice(exe, p);
	return p;
}
