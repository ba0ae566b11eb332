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
#define CHOICES_MAX  1024 /* callers (ids and executable) whose profile is remembered */

static pthread_mutex_t profiles_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ssa_policy *profiles[PROFILES_MAX];
static unsigned nprofiles;

/*
 * The profile each caller got, so that a connection costs no parse of the policy file
 * (ssad reads it once, at start-up).  The key is everything the choice depends on: ids,
 * groups and executable (choice_key).  Bounded: when full, the oldest choice gives way (a
 * user running many copies of a program under new names makes only its own connections
 * parse again).
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

static const struct ssa_policy *load_profile(const struct ssa_policy_caller *who, char *err,
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

/*
 * What the choice of profile depends on, as one string: the ids, then the executable ("-"
 * when it is not that file here).  NULL when out of memory.
 */
static char *choice_key(const struct ssa_policy_caller *who)
{
	size_t size = 64 + who->ngroups * 12 + (who->exe != NULL ? strlen(who->exe) : 1);
	char *key = malloc(size);
	size_t at;

	if (key == NULL)
		return NULL;
	at = (size_t)snprintf(key, size, "%u %u", (unsigned)who->uid, (unsigned)who->gid);
	for (size_t i = 0; i < who->ngroups; i++)
		at += (size_t)snprintf(key + at, size - at, ",%u", (unsigned)who->groups[i]);
	snprintf(key + at, size - at, " %s", who->exe != NULL ? who->exe : "-");
	return key;
}

const struct ssa_policy *ssad_profile_for(const struct ssa_policy_caller *who, char *err,
					  size_t err_size)
{
	char *key = choice_key(who);
	const struct ssa_policy *p = key != NULL ? chosen_before(key) : NULL;

	if (p == NULL) {
		p = load_profile(who, err, err_size);
		if (p != NULL && key != NULL)
			remember_choice(key, p);
	}
	free(key);
	return p;
}
