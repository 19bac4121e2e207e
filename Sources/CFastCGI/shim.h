#pragma once
// The re-entrant API only: fcgi_stdio.h redefines printf/FILE and cannot be used from Swift.
#include <fcgiapp.h>
// epoll, for the kept connections (Swift's Glibc module leaves it out).
#include <sys/epoll.h>
