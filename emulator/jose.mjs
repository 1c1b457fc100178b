// JWS signatures (RFC 7515) with Node's own crypto: which key and parameters each JWS `alg`
// needs (RFC 7518 section 3), signing, and verifying. No signature maths here: node:crypto does
// it; this file only chooses its parameters.

import { constants, createHmac, createPublicKey, createSecretKey, sign as cryptoSign, timingSafeEqual, verify as cryptoVerify } from 'node:crypto';

/**
 * Every `alg` this emulator can sign or verify, with the key it needs (RFC 7518 section 3.1):
 * `kty` (and `crv` for EC), and the node:crypto digest. PS* use RSASSA-PSS with MGF1 over the same
 * digest and a salt as long as the digest (RFC 7518 section 3.5); ES* signatures are the raw
 * R || S octets (RFC 7518 section 3.4), node's `ieee-p1363` encoding.
 */
export const JWS_ALGS = Object.freeze({
  HS256: { kty: 'oct', hash: 'sha256' },
  HS384: { kty: 'oct', hash: 'sha384' },
  HS512: { kty: 'oct', hash: 'sha512' },
  RS256: { kty: 'RSA', hash: 'sha256' },
  RS384: { kty: 'RSA', hash: 'sha384' },
  RS512: { kty: 'RSA', hash: 'sha512' },
  PS256: { kty: 'RSA', hash: 'sha256', pss: true },
  PS384: { kty: 'RSA', hash: 'sha384', pss: true },
  PS512: { kty: 'RSA', hash: 'sha512', pss: true },
  ES256: { kty: 'EC', crv: 'P-256', hash: 'sha256' },
  ES384: { kty: 'EC', crv: 'P-384', hash: 'sha384' },
  ES512: { kty: 'EC', crv: 'P-521', hash: 'sha512' },
  EdDSA: { kty: 'OKP', crv: 'Ed25519', hash: null },
});

/** node:crypto options for an asymmetric `alg` and a KeyObject (private to sign, public to verify). */
function asymmetric(spec, key) {
  if (spec.pss) return { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST };
  if (spec.kty === 'EC') return { key, dsaEncoding: 'ieee-p1363' };
  return key;
}

function specOf(alg) {
  const spec = Object.hasOwn(JWS_ALGS, alg) ? JWS_ALGS[alg] : null;
  if (!spec) throw new TypeError(`unsupported JWS alg ${JSON.stringify(alg)}`);
  return spec;
}

/**
 * Sign the JWS signing input (`BASE64URL(header) || '.' || BASE64URL(payload)`) with `alg`.
 * `key` is a private KeyObject, or a secret KeyObject for HS*. Returns the signature octets.
 */
export function signInput(alg, key, input) {
  const spec = specOf(alg);
  const data = Buffer.from(input);
  if (spec.kty === 'oct') return createHmac(spec.hash, key).update(data).digest();
  return cryptoSign(spec.hash, data, asymmetric(spec, key));
}

/**
 * Whether `signature` (octets) is a valid `alg` signature of `input` under the public JWK `jwk`
 * (for HS*, an `oct` JWK with its secret `k`). The JWK must be of the key type (and curve) the
 * alg needs; any mismatch, unusable key or wrong-length signature is `false`, never an exception.
 * HMAC tags are compared in constant time.
 */
export function verifySignature(alg, jwk, input, signature) {
  const spec = Object.hasOwn(JWS_ALGS, alg) ? JWS_ALGS[alg] : null;
  if (!spec || jwk?.kty !== spec.kty || (spec.crv && jwk.crv !== spec.crv)) return false;
  const data = Buffer.from(input);
  try {
    if (spec.kty === 'oct') {
      if (typeof jwk.k !== 'string') return false;
      const expected = createHmac(spec.hash, createSecretKey(Buffer.from(jwk.k, 'base64url'))).update(data).digest();
      return expected.length === signature.length && timingSafeEqual(expected, signature);
    }
    const key = createPublicKey({ key: jwk, format: 'jwk' });
    return cryptoVerify(spec.hash, data, asymmetric(spec, key), signature);
  } catch {
    return false;
  }
}

/** A secret KeyObject from an `oct` JWK's `k`, to sign HS* tokens with. */
export function secretKey(jwk) {
  if (jwk?.kty !== 'oct' || typeof jwk.k !== 'string') throw new TypeError('an HS* key needs an oct JWK with k');
  return createSecretKey(Buffer.from(jwk.k, 'base64url'));
}
