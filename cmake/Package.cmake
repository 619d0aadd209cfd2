# Package.cmake - the Debian package (cpack -G DEB), included by
# CMakeLists.txt.  scripts/package.sh drives it; docs/operations.md
# ("Install from the Debian package") says what the package holds.
#
# The package is built from an ordinary install tree, so configure with
# -DCMAKE_INSTALL_PREFIX=/usr (the unit and GNUInstallDirs' /etc depend on
# it).  Beside the program files the install tree holds the Debian
# changelog and copyright and the lintian overrides; the maintainer
# scripts (packaging/deb/) go into the control archive.
# Dependencies come from dpkg-shlibdeps over the two binaries.

set(SIFT_PACKAGE_MAINTAINER "sift developers <maintainers@sift.example>"
  CACHE STRING "Maintainer field of the Debian package")
# /usr/share/doc/sift: copyright and a Debian-format changelog (gzip -9n).
string(TIMESTAMP SIFT_PACKAGE_DATE "%a, %d %b %Y %H:%M:%S +0000" UTC)
configure_file(${PROJECT_SOURCE_DIR}/packaging/deb/changelog.in
  ${PROJECT_BINARY_DIR}/packaging/changelog @ONLY)
add_custom_command(OUTPUT ${PROJECT_BINARY_DIR}/packaging/changelog.gz
  COMMAND gzip -9n -c ${PROJECT_BINARY_DIR}/packaging/changelog
          > ${PROJECT_BINARY_DIR}/packaging/changelog.gz
  DEPENDS ${PROJECT_BINARY_DIR}/packaging/changelog VERBATIM)
add_custom_target(package-docs ALL
  DEPENDS ${PROJECT_BINARY_DIR}/packaging/changelog.gz)
install(FILES ${PROJECT_BINARY_DIR}/packaging/changelog.gz
              ${PROJECT_SOURCE_DIR}/packaging/deb/copyright
  DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/sift)
install(FILES ${PROJECT_SOURCE_DIR}/packaging/deb/lintian-overrides
  DESTINATION ${CMAKE_INSTALL_DATADIR}/lintian/overrides RENAME sift)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME sift)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "the sift developers")
set(CPACK_PACKAGE_CONTACT ${SIFT_PACKAGE_MAINTAINER})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
  "log platform in one daemon: ingest, search, anomaly alerts")
# The synopsis is the summary above; CPack indents these lines and turns
# the empty one into " .".
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
"siftd takes logs off Kafka, Redis or HTTP (NDJSON, text lines,
Elasticsearch bulk), indexes every word into a segment store with hot,
warm and cold tiers, answers queries over an HTTP JSON API (the sift
command-line client, curl, Grafana's JSON datasource) and a built-in web
UI (/ui/), and raises alerts from an anomaly-scoring thread.

This package runs siftd as a systemd service (user sift, data in
/var/lib/sift, configuration in /etc/sift/siftd.conf) and ships the sift
client with its manual, bash and zsh completions, and Grafana
provisioning examples.")
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://github.com/sift/sift")
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# systemd-sysusers makes the user in postinst (as dh_installsysusers).
set(CPACK_DEBIAN_PACKAGE_DEPENDS
  "systemd | systemd-standalone-sysusers | systemd-sysusers")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  ${PROJECT_SOURCE_DIR}/packaging/deb/postinst
  ${PROJECT_SOURCE_DIR}/packaging/deb/prerm
  ${PROJECT_SOURCE_DIR}/packaging/deb/postrm
  ${PROJECT_SOURCE_DIR}/packaging/deb/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
set(CPACK_STRIP_FILES TRUE)
set(CPACK_OUTPUT_FILE_PREFIX ${PROJECT_BINARY_DIR}/packages)
include(CPack)
