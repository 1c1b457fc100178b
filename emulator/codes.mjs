// Every error and message code the emulator emits, in one table.
//
// `confirmed: true` means the code (and its message) appears in Cloudflare's
// public docs, changelog or public issue threads (see
// shared/reference/cloudflare-api.md section 1.2). Everything marked
// `confirmed: false` is a PLAUSIBLE CHOICE of this emulator: Cloudflare
// publishes no token-validation error list and the OpenAPI spec only says
// "4XX -> api-shield_generic_failure". A client must not depend on the exact
// value of an unconfirmed code; tests of the Worker should only depend on the
// HTTP status and on `success: false` for those.

export const CODES = Object.freeze({
  // Confirmed.
  AUTH: { code: 10000, status: 403, message: 'Authentication error', confirmed: true },
  NO_ROUTE: { code: 7000, status: 404, message: 'No route for that URI', confirmed: true },
  BAD_OBJECT_ID: { code: 7003, status: 404, message: null /* built per path */, confirmed: true },
  RATE_LIMITED: { code: 971, status: 429, message: 'Please wait and consider throttling your request speed', confirmed: true },
  ALG_DEFAULTED: { code: 110003, status: 200, message: null /* built per key, goes in `messages` */, confirmed: true },
  // Token problems (public issue threads quoting the v4 API: cert-manager #4465, ddns-go #1341,
  // ultimate-multisite #73); the API answers them on every route.
  TOKEN_INVALID: { code: 9109, status: 403, message: 'Invalid access token', confirmed: true },
  BAD_HEADERS: { code: 6003, status: 400, message: 'Invalid request headers', confirmed: true },
  // Only ever inside the error_chain of a 6003.
  BAD_AUTHORIZATION_FORMAT: { code: 6111, status: 400, message: 'Invalid format for Authorization header', confirmed: true },

  // The code is from third-party sources only (Alchemy, cf-terraforming: "every call answers
  // 10403" for an account without the entitlement); the message is chosen here.
  NOT_ENTITLED: { code: 10403, status: 403, message: 'This account is not entitled to API Shield JWT validation', confirmed: false },

  // Unconfirmed: codes chosen by the emulator.
  METHOD_NOT_ALLOWED: { code: 7001, status: 405, message: null /* "Method X not available for that URI." */, confirmed: false },
  INVALID_BODY: { code: 110001, status: 400, message: 'Invalid request body', confirmed: false },
  INVALID_KEY: { code: 110002, status: 400, message: 'Invalid key', confirmed: false },
  KID_REQUIRED: { code: 110004, status: 400, message: 'kid is required', confirmed: false },
  RSA_KEY_TOO_SMALL: { code: 110005, status: 400, message: 'RSA keys must be at least 2048 bits', confirmed: false },
  DUPLICATE_KEY: { code: 110006, status: 400, message: 'duplicate key identity (alg, kid)', confirmed: false },
  TOO_MANY_KEYS: { code: 110007, status: 400, message: 'too many keys', confirmed: false },
  ALG_REQUIRED: { code: 110008, status: 400, message: 'alg is required', confirmed: false },
  INVALID_PAGINATION: { code: 110009, status: 400, message: 'invalid pagination parameter', confirmed: false },
  // PATCH with a symmetric key that is not stored and carries no `k`: nothing to inherit from.
  SECRET_REQUIRED: { code: 110010, status: 400, message: 'k is required for a new symmetric key', confirmed: false },
  // Default code for an injected status fault that names no code of its own.
  INJECTED_FAULT: { code: 10002, status: 500, message: null /* HTTP reason phrase */, confirmed: false },
});

export const DOCUMENTATION_URL_403 = 'https://developers.cloudflare.com/fundamentals/api/troubleshooting/';

/** Every entry by numeric code, for building an error from a code alone. */
export const BY_CODE = Object.freeze(Object.fromEntries(Object.values(CODES).map((c) => [c.code, c])));
