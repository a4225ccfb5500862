// Package mtalock holds the tests of scripts/mta-lock.sh, which closes the
// MTA's own programs (the diverted sendmail, Postfix's postdrop and
// postqueue, Exim's binary) to website users. The tests run the script on
// copies of the real programs under a directory of their own, as real
// site users, and against a Postfix instance of their own; the system's
// programs, dpkg database and Postfix are never touched. It has no code.
package mtalock
