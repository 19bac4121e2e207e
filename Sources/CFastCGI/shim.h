#pragma once
// The re-entrant API only: fcgi_stdio.h redefines printf/FILE and cannot be used from Swift.
#include <fcgiapp.h>
