// OpenSSL's libcrypto (libssl-dev), for scrypt with an explicit memory limit: EVP_PBE_scrypt.
#include <openssl/evp.h>
