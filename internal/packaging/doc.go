// Package packaging holds the test of the Debian package that
// scripts/build-deb.sh builds: lintian finds no error in it, and installed
// with apt-get next to Postfix it does what scripts/install.sh does, takes
// mail from PHP's mail(), and gives Postfix its sendmail back on remove
// and purge; scripts/version.sh gives versions dpkg accepts. It has no
// code.
package packaging
