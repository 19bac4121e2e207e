#!/bin/sh
# Config/apache/verdict.cgi — upload to public_html/hooks/verdict.cgi (and a copy as verdict.fcgi for mod_fcgid),
# mode 755, Unix line endings. It only starts ~/verdict/verdict, which finds ~/verdict/verdict.toml beside itself:
# binary, config, secrets and log never sit in the web root. A wrapper, not a symlink, because suEXEC refuses to run
# symlinks; exec keeps the process (and, under mod_fcgid, the FastCGI socket on stdin) Verdict's own, and `cd`
# first gives Verdict a clean path (no "..") to name in its messages.
# The path is relative to this file: public_html/hooks/ -> ../../verdict. Edit it if your web root is deeper
# (e.g. domains/example.com/public_html/hooks/ -> ../../../../verdict) or write the absolute path.
# suEXEC runs this file by its bare name from its own folder, so $0 may hold no folder at all.
case $0 in */*) here=${0%/*} ;; *) here=. ;; esac
cd "$here/../../verdict" && exec "$PWD/verdict"
