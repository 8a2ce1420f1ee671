// libxcrypt for AviarySASL's password verifier, the only module that imports this one.
#ifndef CAVIARY_CRYPT_SHIM_H
#define CAVIARY_CRYPT_SHIM_H

#include <crypt.h>

#endif
