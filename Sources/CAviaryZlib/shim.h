// The system zlib for IMAP COMPRESS=DEFLATE (RFC 4978): deflateInit2 and inflateInit2 are macros, so Swift
// cannot call them; these wrappers fix the parameters the RFC asks for. Raw DEFLATE (RFC 1951): windowBits -15,
// no zlib header or checksum.
#ifndef CAVIARY_ZLIB_SHIM_H
#define CAVIARY_ZLIB_SHIM_H

#include <zlib.h>

static inline int aviary_deflate_init(z_stream *stream) {
    return deflateInit2(stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
}

static inline int aviary_inflate_init(z_stream *stream) {
    return inflateInit2(stream, -15);
}

#endif
