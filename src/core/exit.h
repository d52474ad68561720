/* The exit statuses of the moat commands, named as curl's CURLcode are:
 * one enum per command family. The values are part of the interface
 * (scripts test them) and never change. */
#ifndef MOAT_CORE_EXIT_H
#define MOAT_CORE_EXIT_H

/* `moat` itself and `moat serve`. */
enum moat_exit {
    MOAT_EXIT_OK = 0,
    MOAT_EXIT_FAIL = 1,  /* at run time: a socket, a worker, a signal */
    MOAT_EXIT_USAGE = 2, /* a bad flag or config line, an unreadable file */
};

/* `moat ca`. */
enum moat_ca_exit {
    MOAT_CA_EXIT_OK = 0,
    MOAT_CA_EXIT_FAIL = 1,  /* files, crypto, a trust store */
    MOAT_CA_EXIT_USAGE = 2, /* bad usage, refused, a missing, damaged or mismatched CA */
};

/* `moat get`: curl's numbers for curl's meanings (curl's CURLE_ names),
 * so that scripts written for curl read them alike. */
enum moat_get_exit {
    GET_EXIT_OK = 0,
    GET_EXIT_UNSUPPORTED = 1, /* UNSUPPORTED_PROTOCOL: a scheme (or redirect) not https */
    GET_EXIT_INTERNAL = 1,    /* out of memory, libcrypto lacking: curl has no closer number */
    GET_EXIT_USAGE = 2,
    GET_EXIT_URL_MALFORMAT = 3,
    GET_EXIT_COULDNT_RESOLVE_PROXY = 5, /* -x, https_proxy: the proxy's name */
    GET_EXIT_COULDNT_RESOLVE_HOST = 6,
    GET_EXIT_COULDNT_CONNECT = 7,
    GET_EXIT_WEIRD_SERVER_REPLY = 8,
    GET_EXIT_HTTP2 = 16,               /* an HTTP/2 framing or session error (GOAWAY) */
    GET_EXIT_PARTIAL_FILE = 18,        /* the response ended early */
    GET_EXIT_HTTP_RETURNED_ERROR = 22, /* a status >= 400 with -f */
    GET_EXIT_WRITE_ERROR = 23,
    GET_EXIT_READ_ERROR = 26,    /* --data-binary @FILE, -T, -F @FILE, -b, -K */
    GET_EXIT_OUT_OF_MEMORY = 27, /* as curl 7.88: a response header line over its limit */
    GET_EXIT_OPERATION_TIMEDOUT = 28,
    GET_EXIT_RANGE_ERROR = 33,       /* -C: the server did not answer the range */
    GET_EXIT_SSL_CONNECT_ERROR = 35, /* the TLS handshake failed */
    GET_EXIT_TOO_MANY_REDIRECTS = 47,
    GET_EXIT_GOT_NOTHING = 52, /* "Empty reply from server": not a byte of answer */
    GET_EXIT_SEND_ERROR = 55,
    GET_EXIT_RECV_ERROR = 56,
    GET_EXIT_SSL_CERTPROBLEM = 58,          /* --cert/--key unusable */
    GET_EXIT_FILESIZE_EXCEEDED = 63,        /* --max-filesize */
    GET_EXIT_PEER_FAILED_VERIFICATION = 60, /* the server's certificate refused */
    GET_EXIT_BAD_CONTENT_ENCODING = 61,     /* --compressed: a body that does not decode */
    GET_EXIT_SSL_CACERT_BADFILE = 77,       /* --cacert, --capath, --crl unusable */
    GET_EXIT_HTTP2_STREAM = 92,             /* an HTTP/2 stream reset, or ended unfinished */
};

#endif
