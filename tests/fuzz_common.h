/*
 * fuzz_common.h -- what both libFuzzer targets (fuzz_options.c, fuzz_protocol.c) need alike:
 * name lookups that never leave this machine, the reader that turns an input into numbers, and
 * the host names they put in AF_HOSTNAME addresses; with -DFUZZ_STANDALONE, a main() that runs
 * the target over files, without libFuzzer.
 * Included by exactly one file of each target: it defines getaddrinfo().
 */
#ifndef SSA_FUZZ_COMMON_H
#define SSA_FUZZ_COMMON_H

#include <dlfcn.h>
#include <netdb.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <ssa/in_tls.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- Name lookups stay on this machine ---------------------------------------------------- */

static int is_loopback_name(const char *node)
{
	return strcmp(node, "localhost") == 0 || strcmp(node, "127.0.0.1") == 0 ||
	       strcmp(node, "::1") == 0;
}

/* Replaces libc's for the library compiled in with the target: loopback names only. */
int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
		struct addrinfo **res)
{
	static int (*real)(const char *, const char *, const struct addrinfo *, struct addrinfo **);
	struct addrinfo h;

	if (node == NULL || !is_loopback_name(node))
		return EAI_NONAME;
	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "getaddrinfo");
	if (real == NULL)
		return EAI_SYSTEM;
	/* "localhost" from the literal, not from /etc/hosts or DNS. */
	memset(&h, 0, sizeof(h));
	if (hints)
		h = *hints;
	h.ai_flags |= AI_NUMERICHOST;
	if (strcmp(node, "localhost") == 0)
		node = h.ai_family == AF_INET6 ? "::1" : "127.0.0.1";
	return real(node, service, &h, res);
}

/* ---- Input reader: numbers from the input, zeros once it ends ----------------------------- */

struct input {
	const uint8_t *p;
	size_t n;
};

static uint8_t u8(struct input *in)
{
	if (in->n == 0)
		return 0;
	in->n--;
	return *in->p++;
}

/* Little-endian, low byte first: sequenced, so that an input always reads the same way. */
static uint16_t u16(struct input *in)
{
	uint16_t lo = u8(in);

	return (uint16_t)(lo | u8(in) << 8);
}

static uint32_t u32(struct input *in)
{
	uint32_t lo = u16(in);

	return lo | (uint32_t)u16(in) << 16;
}

/*
 * The AF_HOSTNAME name field of the len bytes at addr: localhost, the fuzz bytes already there
 * (anything but NUL) as a label under .invalid, a name without its NUL, or an empty one.
 */
static void rewrite_host_name(uint8_t *addr, size_t len, struct input *in)
{
	size_t room = len - offsetof(struct sockaddr_host, sin_addr);
	char *name = (char *)addr + offsetof(struct sockaddr_host, sin_addr);
	uint8_t mode = u8(in);

	if (mode < 128) {
		snprintf(name, room, "localhost");
	} else if (mode < 192) {
		size_t keep = room > 9 ? (mode % 2 ? strnlen(name, room - 9) : room - 9) : 0;

		for (size_t i = 0; i < keep; i++)
			if (name[i] == '\0')
				name[i] = '-';
		if (room >= 9) {
			memcpy(name + keep, ".invalid", 8);
			name[keep + 8] = '\0';
		} else if (room > 0) {
			name[room - 1] = '\0';
		}
	} else if (mode < 224) {
		memset(name, 'a', room); /* no NUL */
	} else if (room > 0) {
		name[0] = '\0';
	}
}

#ifdef FUZZ_STANDALONE
#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>

/* Runs the target over each file named (a directory: over each of its files); names the
 * inputs that took 100 ms or more. */
static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	struct timespec t0, t1;
	uint8_t *buf;
	long n, ms;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0) {
		fprintf(stderr, "%s: cannot read\n", path);
		if (f)
			fclose(f);
		return 1;
	}
	rewind(f);
	buf = malloc((size_t)n + 1);
	if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n) {
		fclose(f);
		free(buf);
		return 1;
	}
	fclose(f);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	LLVMFuzzerTestOneInput(buf, (size_t)n);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	if (ms >= 100)
		printf("slow: %s took %ld ms\n", path, ms);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	int failures = 0, runs = 0;

	for (int i = 1; i < argc; i++) {
		struct stat st;

		if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
			DIR *d = opendir(argv[i]);
			struct dirent *de;

			while (d && (de = readdir(d)) != NULL) {
				char path[4096];

				if (de->d_name[0] == '.')
					continue;
				snprintf(path, sizeof(path), "%s/%s", argv[i], de->d_name);
				failures += run_file(path);
				runs++;
			}
			if (d)
				closedir(d);
		} else {
			failures += run_file(argv[i]);
			runs++;
		}
	}
	printf("%d inputs run, %d unreadable\n", runs, failures);
	return failures ? 1 : 0;
}
#endif /* FUZZ_STANDALONE */

#endif /* SSA_FUZZ_COMMON_H */
