# What `cmake --install` puts where, and the Debian package CPack builds from it.
#
#   <prefix>/bin/koorelease
#   <prefix>/share/man/man1/koorelease.1.gz
#   <prefix>/share/doc/koorelease/README.md, examples/koorelease.toml
#   <prefix>/lib/systemd/system/koorelease-nightly.{service,timer}  (ExecStart: <prefix>/bin/koorelease)
#   <etc>/koorelease/koorelease.toml   the example config, a conffile in the .deb
#
# <etc> is /etc when the prefix is /usr (as for the .deb) and <prefix>/etc otherwise. The prefix
# may be given at install time (`cmake --install build --prefix /usr`), so the two files that
# depend on it (the config and the service naming the binary) are placed by install(CODE) when
# the prefix is known, not when CMake configures.
include(GNUInstallDirs)

install(TARGETS koorelease RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
# The man page, compressed as Debian's policy asks (gzip -9n: no name or time stamp inside).
add_custom_command(OUTPUT ${PROJECT_BINARY_DIR}/koorelease.1.gz
  COMMAND ${CMAKE_COMMAND} -E copy ${PROJECT_SOURCE_DIR}/doc/koorelease.1 ${PROJECT_BINARY_DIR}/koorelease.1
  COMMAND gzip -9nf ${PROJECT_BINARY_DIR}/koorelease.1
  DEPENDS ${PROJECT_SOURCE_DIR}/doc/koorelease.1 VERBATIM)
add_custom_target(koorelease_man ALL DEPENDS ${PROJECT_BINARY_DIR}/koorelease.1.gz)
install(FILES ${PROJECT_BINARY_DIR}/koorelease.1.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES ${PROJECT_SOURCE_DIR}/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})

# The example config is written alongside (config/koorelease.toml); until it exists nothing is
# installed for it, and the .deb then has no conffile.
set(KOORELEASE_EXAMPLE_CONFIG ${PROJECT_SOURCE_DIR}/config/koorelease.toml)
if(EXISTS ${KOORELEASE_EXAMPLE_CONFIG})
  set(KOORELEASE_HAS_CONFIG ON)
  install(FILES ${KOORELEASE_EXAMPLE_CONFIG} DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)
else()
  set(KOORELEASE_HAS_CONFIG OFF)
  message(STATUS "config/koorelease.toml not found: it is not installed")
endif()

install(CODE "
  set(_src \"${PROJECT_SOURCE_DIR}/config\")
  set(_work \"${PROJECT_BINARY_DIR}/install-generated\")
  set(_has_config ${KOORELEASE_HAS_CONFIG})
" ALL_COMPONENTS)
install(CODE [[
  if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
    set(_etc "/etc")
  else()
    set(_etc "${CMAKE_INSTALL_PREFIX}/etc")
  endif()
  if(_has_config)
    file(INSTALL DESTINATION "${_etc}/koorelease" TYPE FILE FILES "${_src}/koorelease.toml")
  endif()
  # The service in config/ names /usr/local/bin/koorelease (the default prefix) and
  # /etc/koorelease/koorelease.toml; name the binary and the config this install puts in place.
  foreach(_service koorelease-nightly.service koorelease-worker.service)
    file(READ "${_src}/${_service}" _unit)
    string(REPLACE "exec /usr/local/bin/koorelease " "exec ${CMAKE_INSTALL_PREFIX}/bin/koorelease "
           _unit "${_unit}")
    string(REPLACE "--config /etc/koorelease/koorelease.toml " "--config ${_etc}/koorelease/koorelease.toml "
           _unit "${_unit}")
    file(WRITE "${_work}/${_service}" "${_unit}")
  endforeach()
  file(INSTALL DESTINATION "${CMAKE_INSTALL_PREFIX}/lib/systemd/system" TYPE FILE
       FILES "${_work}/koorelease-nightly.service" "${_work}/koorelease-worker.service"
             "${_src}/koorelease-nightly.timer")
]] ALL_COMPONENTS)

# The Debian package: `cd build && cpack -G DEB`.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME koorelease)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "koorelease maintainers <koorelease@example.org>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "release the sessions of many Huawei Cloud KooPhone instances")
set(CPACK_PACKAGE_DESCRIPTION
    "koorelease sends POST /v1/instances/session/release for every instance id it reads,
through a pool of keep-alive HTTPS connections, under a rate limit, with retries and an
adaptive slow-down when the API throttles, and writes one JSON line per id saying what
happened. Includes a man page, an example configuration, a systemd service and
timer for a nightly run, and a service for a worker of a shared Redis queue.")
# Install with DESTDIR=<staging> and the real prefix, so that the install(CODE) above sees
# /usr and puts the config in /etc.
set(CPACK_SET_DESTDIR ON)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${CPACK_PACKAGE_CONTACT}")
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://github.com/koorelease/koorelease")
# dpkg-shlibdeps derives Depends from the libraries the binary links (libssl3, libsimdjson14,
# libspdlog1.10, libfmt9, libtomlplusplus3, libstdc++6, libc6, ...); ca-certificates is
# recommended because the default endpoint is verified against the system's trust store, which
# no library pulls in.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "ca-certificates")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "systemd")
if(KOORELEASE_HAS_CONFIG)
  file(WRITE ${PROJECT_BINARY_DIR}/deb/conffiles "/etc/koorelease/koorelease.toml\n")
  set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${PROJECT_BINARY_DIR}/deb/conffiles)
endif()
include(CPack)

# The man page names every command and option `--help` lists (scripts/check-man.sh).
if(KOORELEASE_TESTS)
  add_test(NAME man_page_covers_help
           COMMAND bash ${PROJECT_SOURCE_DIR}/scripts/check-man.sh $<TARGET_FILE:koorelease>
                   ${PROJECT_SOURCE_DIR}/doc/koorelease.1)
  set_tests_properties(man_page_covers_help PROPERTIES LABELS docs)
endif()
