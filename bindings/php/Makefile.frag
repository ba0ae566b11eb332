# `make test` runs with -n (no php.ini, no conf.d), so it loads only this module: the sockets
# extension, whose functions this module extends, is added here unless PHP has it built in.
PHP_TEST_SHARED_EXTENSIONS = `\
	if ! $(PHP_EXECUTABLE) -n -r 'exit(extension_loaded("sockets") ? 0 : 1);' 2>/dev/null && \
	   test -f "$(EXTENSION_DIR)/sockets.so"; then \
		printf ' -d extension=%s' "$(EXTENSION_DIR)/sockets.so"; \
	fi; printf ' -d extension=%s' "$(top_builddir)/modules/ssa.so"`
