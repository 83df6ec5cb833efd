# libwhalewatcher: build, install and uninstall.
#
#   make                          cargo build --release, then the command-line
#                                 tool whalewatch (c-examples/whalewatch)
#   make install PREFIX=/usr/local [DESTDIR=/staging]
#   make uninstall PREFIX=/usr/local [DESTDIR=/staging]
#   make check                    the whole test suite (tests/run.sh)
#
# Installs, below $(DESTDIR)$(PREFIX):
#   bin/whalewatch (it finds the library in ../lib relative to itself),
#   lib/libwhalewatcher.so.X.Y.Z, lib/libwhalewatcher.so.N -> .so.X.Y.Z (N is
#   the ABI version and the SONAME), lib/libwhalewatcher.so -> .so.N,
#   lib/libwhalewatcher.a, include/whalewatcher.h, include/whalewatcher.hpp,
#   lib/pkgconfig/whalewatcher.pc (relocatable: it finds the prefix from its
#   own place), lib/cmake/whalewatcher/whalewatcher-config.cmake and
#   whalewatcher-config-version.cmake (imported targets
#   whalewatcher::whalewatcher and whalewatcher::whalewatcher_static).

PREFIX ?= /usr/local
DESTDIR ?=
CARGO ?= cargo
TARGET_DIR ?= target
INSTALL ?= install

VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
ABI := $(shell sed -n 's/^\#define WW_ABI_VERSION \([0-9]*\)/\1/p' include/whalewatcher.h)
# What a program linking the static library needs besides it
# (`cargo rustc -- --print native-static-libs`).
STATIC_LIBS := -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc

BIN := $(DESTDIR)$(PREFIX)/bin
LIB := $(DESTDIR)$(PREFIX)/lib
INC := $(DESTDIR)$(PREFIX)/include
PCDIR := $(LIB)/pkgconfig
CMAKEDIR := $(LIB)/cmake/whalewatcher
BUILT := $(TARGET_DIR)/release

INSTALLED := \
	$(BIN)/whalewatch \
	$(LIB)/libwhalewatcher.so.$(VERSION) \
	$(LIB)/libwhalewatcher.so.$(ABI) \
	$(LIB)/libwhalewatcher.so \
	$(LIB)/libwhalewatcher.a \
	$(INC)/whalewatcher.h \
	$(INC)/whalewatcher.hpp \
	$(PCDIR)/whalewatcher.pc \
	$(CMAKEDIR)/whalewatcher-config.cmake \
	$(CMAKEDIR)/whalewatcher-config-version.cmake

# whalewatch, built against the library just built and the repository's
# header; its rpath, $ORIGIN/../lib, finds the installed library wherever
# the tree is installed or moved to.
CC ?= cc
CFLAGS ?= -O2 -g
WHALEWATCH_DIR := c-examples/whalewatch
WHALEWATCH_SOURCES := $(WHALEWATCH_DIR)/whalewatch.c $(WHALEWATCH_DIR)/text.c
WHALEWATCH := $(BUILT)/whalewatch

.PHONY: all build install uninstall check

all: build

# A make of its own for whalewatch: it sees the library cargo just wrote.
build:
	$(CARGO) build --release --locked
	$(MAKE) --no-print-directory $(WHALEWATCH)

$(WHALEWATCH): $(WHALEWATCH_SOURCES) $(WHALEWATCH_DIR)/text.h include/whalewatcher.h $(BUILT)/libwhalewatcher.so
	$(CC) -std=c99 -Wall -Wextra -Wpedantic $(CFLAGS) -D_POSIX_C_SOURCE=200809L -Iinclude -pthread \
		-o $@ $(WHALEWATCH_SOURCES) -L$(BUILT) -Wl,-rpath,'$$ORIGIN/../lib' -lwhalewatcher

define PC_FILE
prefix=$${pcfiledir}/../..
libdir=$${prefix}/lib
includedir=$${prefix}/include

Name: whalewatcher
Description: The alive containers of a container engine, always current, answered from memory
URL: https://github.com/thediveo/whalewatcher
Version: $(VERSION)
Cflags: -I$${includedir}
Libs: -L$${libdir} -lwhalewatcher
Libs.private: $(STATIC_LIBS)
endef
export PC_FILE

define CMAKE_CONFIG
# whalewatcher CMake package: imported targets whalewatcher::whalewatcher
# (shared library) and whalewatcher::whalewatcher_static (static library).
# Relocatable: the prefix is found from this file's own place.
get_filename_component(_ww_prefix "$${CMAKE_CURRENT_LIST_DIR}/../../.." ABSOLUTE)
if(NOT TARGET whalewatcher::whalewatcher)
  add_library(whalewatcher::whalewatcher SHARED IMPORTED)
  set_target_properties(whalewatcher::whalewatcher PROPERTIES
    IMPORTED_LOCATION "$${_ww_prefix}/lib/libwhalewatcher.so.$(VERSION)"
    IMPORTED_SONAME "libwhalewatcher.so.$(ABI)"
    INTERFACE_INCLUDE_DIRECTORIES "$${_ww_prefix}/include")
endif()
if(NOT TARGET whalewatcher::whalewatcher_static)
  add_library(whalewatcher::whalewatcher_static STATIC IMPORTED)
  set_target_properties(whalewatcher::whalewatcher_static PROPERTIES
    IMPORTED_LOCATION "$${_ww_prefix}/lib/libwhalewatcher.a"
    INTERFACE_INCLUDE_DIRECTORIES "$${_ww_prefix}/include"
    INTERFACE_LINK_LIBRARIES "$(subst $(subst ,, ),;,$(filter-out -lc,$(STATIC_LIBS)))")
endif()
set(whalewatcher_ABI_VERSION $(ABI))
unset(_ww_prefix)
endef
export CMAKE_CONFIG

# While the version is 0.x, only the same minor version is compatible.
define CMAKE_VERSION_FILE
set(PACKAGE_VERSION "$(VERSION)")
set(PACKAGE_VERSION_COMPATIBLE FALSE)
set(PACKAGE_VERSION_EXACT FALSE)
if(PACKAGE_FIND_VERSION VERSION_LESS_EQUAL PACKAGE_VERSION)
  string(REGEX MATCH "^[0-9]+\\.[0-9]+" _ww_have "$${PACKAGE_VERSION}")
  if(PACKAGE_FIND_VERSION_MAJOR EQUAL 0)
    set(_ww_want "$${PACKAGE_FIND_VERSION_MAJOR}.$${PACKAGE_FIND_VERSION_MINOR}")
  else()
    set(_ww_want "$${PACKAGE_FIND_VERSION_MAJOR}")
    string(REGEX MATCH "^[0-9]+" _ww_have "$${PACKAGE_VERSION}")
  endif()
  if(_ww_have STREQUAL _ww_want)
    set(PACKAGE_VERSION_COMPATIBLE TRUE)
  endif()
  if(PACKAGE_FIND_VERSION VERSION_EQUAL PACKAGE_VERSION)
    set(PACKAGE_VERSION_EXACT TRUE)
  endif()
  unset(_ww_have)
  unset(_ww_want)
endif()
if(NOT CMAKE_SIZEOF_VOID_P STREQUAL "8")
  set(PACKAGE_VERSION "$${PACKAGE_VERSION} (64bit)")
  set(PACKAGE_VERSION_UNSUITABLE TRUE)
endif()
endef
export CMAKE_VERSION_FILE

install: build
	@test -n "$(VERSION)" && test -n "$(ABI)" || { echo "cannot read VERSION/ABI" >&2; exit 1; }
	$(INSTALL) -d $(BIN) $(LIB) $(INC) $(PCDIR) $(CMAKEDIR)
	$(INSTALL) -m 755 $(WHALEWATCH) $(BIN)/whalewatch
	$(INSTALL) -m 755 $(BUILT)/libwhalewatcher.so $(LIB)/libwhalewatcher.so.$(VERSION)
	ln -sfn libwhalewatcher.so.$(VERSION) $(LIB)/libwhalewatcher.so.$(ABI)
	ln -sfn libwhalewatcher.so.$(ABI) $(LIB)/libwhalewatcher.so
	$(INSTALL) -m 644 $(BUILT)/libwhalewatcher.a $(LIB)/libwhalewatcher.a
	$(INSTALL) -m 644 include/whalewatcher.h include/whalewatcher.hpp $(INC)/
	printf '%s\n' "$$PC_FILE" > $(PCDIR)/whalewatcher.pc
	printf '%s\n' "$$CMAKE_CONFIG" > $(CMAKEDIR)/whalewatcher-config.cmake
	printf '%s\n' "$$CMAKE_VERSION_FILE" > $(CMAKEDIR)/whalewatcher-config-version.cmake

uninstall:
	rm -f $(INSTALLED)
	-rmdir $(CMAKEDIR) 2>/dev/null

check:
	tests/run.sh
