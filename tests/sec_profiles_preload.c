/*
 * sec_profiles_preload.so: what any user can load into a program it runs (LD_PRELOAD).  The
 * suite tests/suites.d/sec-profiles.sh preloads it into a profiled server run by the wrong
 * user: the executable is the profile's, the code is not, so the executable proves nothing
 * and only users = [...] keeps the profile's keys from that user.
 */
#include <stdio.h>
#include <unistd.h>

__attribute__((constructor)) static void announce(void)
{
	fprintf(stderr, "preload: foreign code runs in pid %d as uid %d\n", (int)getpid(),
		(int)getuid());
}
