dnl bindings/php/config.m4 -- the PHP extension of the Secure Socket API (phpize; see README.md).
dnl
dnl Where libssa comes from, first match wins:
dnl   SSA_CFLAGS / SSA_LIBS in the environment (as for any pkg-config module);
dnl   --with-ssa=DIR, DIR an install prefix (DIR/include/ssa/ssa.h, DIR/lib*/libssa.so) or a libssa
dnl     build tree (DIR/core/.libs/libssa.so, headers from the tree's source directory);
dnl   pkg-config ssa (an installed libssa).
dnl The library directory is recorded as the module's run path, so no LD_LIBRARY_PATH is needed.

PHP_ARG_WITH([ssa],
  [for Secure Socket API support],
  [AS_HELP_STRING([[--with-ssa[=DIR]]],
    [Secure Socket API (IPPROTO_TLS) support.  DIR is libssa's install prefix or build tree;
     without it pkg-config ssa is used])],
  [yes])

if test "$PHP_SSA" != "no"; then
  SSA_INCDIR=""
  SSA_LIBDIR=""

  if test -n "$SSA_CFLAGS$SSA_LIBS"; then
    AC_MSG_CHECKING([for libssa from SSA_CFLAGS and SSA_LIBS])
    AC_MSG_RESULT([$SSA_CFLAGS $SSA_LIBS])
  elif test "$PHP_SSA" != "yes"; then
    AC_MSG_CHECKING([for libssa in $PHP_SSA])
    if test -f "$PHP_SSA/core/.libs/libssa.so"; then
      SSA_LIBDIR="$PHP_SSA/core/.libs"
      ssa_srcdir=`sed -n 's/^abs_top_srcdir = //p' "$PHP_SSA/Makefile" 2>/dev/null`
      for d in "$PHP_SSA/core/include" "$ssa_srcdir/core/include"; do
        if test -f "$d/ssa/ssa.h"; then
          SSA_INCDIR="$d"
          break
        fi
      done
    else
      for l in lib64 lib lib/x86_64-linux-gnu lib/aarch64-linux-gnu; do
        if test -f "$PHP_SSA/$l/libssa.so"; then
          SSA_LIBDIR="$PHP_SSA/$l"
          break
        fi
      done
      if test -f "$PHP_SSA/include/ssa/ssa.h"; then
        SSA_INCDIR="$PHP_SSA/include"
      fi
    fi
    if test -z "$SSA_LIBDIR" || test -z "$SSA_INCDIR"; then
      AC_MSG_RESULT([not found])
      AC_MSG_ERROR([no libssa.so and ssa/ssa.h under $PHP_SSA (an install prefix or a libssa build tree)])
    fi
    AC_MSG_RESULT([headers $SSA_INCDIR, library $SSA_LIBDIR])
    SSA_CFLAGS="-I$SSA_INCDIR"
  else
    AC_PATH_PROG(PKG_CONFIG, pkg-config, no)
    AC_MSG_CHECKING([for libssa with pkg-config])
    if test -x "$PKG_CONFIG" && $PKG_CONFIG --exists ssa; then
      SSA_CFLAGS=`$PKG_CONFIG --cflags ssa`
      SSA_LIBDIR=`$PKG_CONFIG --variable=libdir ssa`
      AC_MSG_RESULT([version `$PKG_CONFIG --modversion ssa`, $SSA_LIBDIR])
    else
      AC_MSG_RESULT([not found])
      AC_MSG_ERROR([libssa not found: install it (pkg-config ssa), or give --with-ssa=DIR or SSA_CFLAGS/SSA_LIBS])
    fi
  fi

  PHP_EVAL_INCLINE($SSA_CFLAGS)
  if test -n "$SSA_LIBDIR"; then
    PHP_ADD_LIBRARY_WITH_PATH(ssa, $SSA_LIBDIR, SSA_SHARED_LIBADD)
  else
    PHP_EVAL_LIBLINE($SSA_LIBS, SSA_SHARED_LIBADD)
  fi

  dnl The extension must see libssa's explicit API.
  old_CPPFLAGS=$CPPFLAGS
  CPPFLAGS="$CPPFLAGS $INCLUDES"
  AC_CHECK_HEADER([ssa/ssa.h], [], [AC_MSG_ERROR([ssa/ssa.h not found with $SSA_CFLAGS])])
  CPPFLAGS=$old_CPPFLAGS

  dnl The sockets extension's php_sockets.h (installed by php-dev) gives the Socket object layout.
  ssa_phpinc=`$PHP_CONFIG --include-dir`
  AC_MSG_CHECKING([for the sockets extension's header])
  if test -f "$ssa_phpinc/ext/sockets/php_sockets.h"; then
    AC_MSG_RESULT([$ssa_phpinc/ext/sockets/php_sockets.h])
  else
    AC_MSG_RESULT([no])
    AC_MSG_ERROR([ext/sockets/php_sockets.h not found under $ssa_phpinc (php-dev)])
  fi

  dnl libssa runs engine threads: PHP's dlclose() of this module at shutdown must not unmap
  dnl libssa under them (that crashes), so the module, and with it libssa, stays loaded.
  SSA_SHARED_LIBADD="$SSA_SHARED_LIBADD -Wl,-z,nodelete"
  PHP_SUBST(SSA_SHARED_LIBADD)
  PHP_NEW_EXTENSION(ssa, ssa.c ssa_sockets.c ssa_stream.c, $ext_shared,, -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers)
  PHP_ADD_EXTENSION_DEP(ssa, sockets, true)
  PHP_ADD_MAKEFILE_FRAGMENT
fi
