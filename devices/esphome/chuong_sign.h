// Signed presses for the reference button: HMAC-SHA256 over the canonical fields, as the hub
// checks them (devices/signing.py). ESP-IDF ships mbedtls; the tests compile this same file with
// Debian's mbedtls and compare its signatures with the hub's.
#pragma once

#include <cstdlib>
#include <string>

#include "mbedtls/md.h"

// The canonical text of one event: "chuong-v1\n<button>\n<id>\n<type>\n<seq>\n<ts>".
inline std::string chuong_canonical(const std::string &button, const std::string &event_id,
                                    const std::string &type, unsigned long seq, unsigned long ts) {
  return "chuong-v1\n" + button + "\n" + event_id + "\n" + type + "\n" + std::to_string(seq) +
         "\n" + std::to_string(ts);
}

// Lower-case hex of HMAC-SHA256(key, message); the key is given as 64 hex characters.
inline std::string chuong_hmac_hex(const std::string &key_hex, const std::string &message) {
  unsigned char key[32] = {0};
  for (size_t i = 0; i < sizeof(key) && 2 * i + 1 < key_hex.size(); i++) {
    key[i] = (unsigned char) strtoul(key_hex.substr(2 * i, 2).c_str(), nullptr, 16);
  }
  unsigned char mac[32];
  mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), key, sizeof(key),
                  (const unsigned char *) message.data(), message.size(), mac);
  static const char digits[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(2 * sizeof(mac));
  for (unsigned char byte : mac) {
    hex += digits[byte >> 4];
    hex += digits[byte & 15];
  }
  return hex;
}
