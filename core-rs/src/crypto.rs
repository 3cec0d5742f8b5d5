//! Ed25519 signing and verification (ed25519-dalek) and SHA-256 content hashes (sha2).
//!
//! Why SHA-256 rather than BLAKE3: Ed25519 already pulls in the SHA-2 family, so it
//! costs almost no WASM size, and every browser (WebCrypto) and Node (`node:crypto`) can
//! check a `#`-space key without loading the engine.

use crate::value::Value;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256, Sha512};
use std::collections::HashMap;

pub const PUBLIC_KEY_LEN: usize = 32;
pub const SIGNATURE_LEN: usize = 64;

/// A writer's public key and its signature over one update.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signed {
    pub signer: [u8; PUBLIC_KEY_LEN],
    pub signature: [u8; SIGNATURE_LEN],
}

/// An Ed25519 key pair held by the engine. The seed comes from the shell's
/// `crypto.getRandomValues`, so the engine needs no randomness of its own.
pub struct KeyPair {
    key: SigningKey,
    public: [u8; PUBLIC_KEY_LEN],
}

impl KeyPair {
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        let key = SigningKey::from_bytes(seed);
        let public = key.verifying_key().to_bytes();
        KeyPair { key, public }
    }
    pub fn public_key(&self) -> &[u8; PUBLIC_KEY_LEN] {
        &self.public
    }
    pub fn sign(&self, message: &[u8]) -> [u8; SIGNATURE_LEN] {
        self.key.sign(message).to_bytes()
    }
}

/// The bytes a writer signs for one update: a domain tag, then soul, key, value and
/// state in an unambiguous, length-prefixed layout. Changing it is a protocol version.
pub fn update_message(soul: &str, key: &str, value: &Value, state: f64) -> Vec<u8> {
    const DOMAIN: &[u8] = b"rustdht/update/v1\0";
    let mut m = Vec::with_capacity(DOMAIN.len() + soul.len() + key.len() + 32);
    m.extend_from_slice(DOMAIN);
    push_bytes(&mut m, soul.as_bytes());
    push_bytes(&mut m, key.as_bytes());
    match value {
        Value::Null => m.push(0),
        Value::Bool(false) => m.push(1),
        Value::Bool(true) => m.push(2),
        Value::Number(x) => {
            m.push(3);
            m.extend_from_slice(&x.to_bits().to_be_bytes());
        }
        Value::Text(s) => {
            m.push(4);
            push_bytes(&mut m, s.as_bytes());
        }
        Value::Link(s) => {
            m.push(5);
            push_bytes(&mut m, s.as_bytes());
        }
    }
    m.extend_from_slice(&state.to_bits().to_be_bytes());
    m
}

fn push_bytes(m: &mut Vec<u8>, bytes: &[u8]) {
    m.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    m.extend_from_slice(bytes);
}

/// Verifies signatures, keeping decompressed public keys: decompressing a point costs
/// a good share of a verification and writers sign many updates with one key.
pub struct Verifier {
    keys: HashMap<[u8; PUBLIC_KEY_LEN], Option<VerifyingKey>>,
}

const KEY_CACHE_CAPACITY: usize = 4096;

impl Default for Verifier {
    fn default() -> Self {
        Verifier { keys: HashMap::new() }
    }
}

impl Verifier {
    /// `None` for bytes that are not a usable public key (off the curve, or of small
    /// order: such "weak" keys would let one signature verify for many messages).
    fn key(&mut self, public: &[u8; PUBLIC_KEY_LEN]) -> Option<VerifyingKey> {
        if let Some(found) = self.keys.get(public) {
            return *found;
        }
        if self.keys.len() >= KEY_CACHE_CAPACITY {
            self.keys.clear();
        }
        let parsed = VerifyingKey::from_bytes(public).ok().filter(|k| !k.is_weak());
        self.keys.insert(*public, parsed);
        parsed
    }

    /// One signature, by the cofactored equation [8](sB - kA - R) = 0 (ZIP-215's rule),
    /// the same equation the batch check uses: whether an update verifies must not depend
    /// on which other updates arrived in its frame, or peers that received it in different
    /// batches would disagree and never converge.
    pub fn verify(&mut self, message: &[u8], signed: &Signed) -> bool {
        let Some(key) = self.key(&signed.signer) else { return false };
        let Some(parts) = SignatureParts::of(message, signed, &key) else { return false };
        let a = key.to_edwards();
        let check = EdwardsPoint::vartime_double_scalar_mul_basepoint(&parts.k, &-a, &parts.s) - parts.r;
        check.mul_by_cofactor().is_identity()
    }

    /// Verifies many signatures; `result[i]` says whether `items[i]` is valid. One
    /// batch equation checks them all at once; only when it fails do we fall back to
    /// one-by-one checks to find the bad ones (a peer sending garbage pays for it).
    pub fn verify_many(&mut self, items: &[(&[u8], &Signed)]) -> Vec<bool> {
        if items.len() >= 2 && self.batch_ok(items) {
            return vec![true; items.len()];
        }
        items.iter().map(|(message, signed)| self.verify(message, signed)).collect()
    }

    /// The cofactored batch equation [8](Σ zᵢRᵢ + Σ zᵢkᵢAᵢ - (Σ zᵢsᵢ)B) = 0 with 128-bit
    /// coefficients zᵢ derived by hashing the whole batch (so no sender can choose them).
    /// It holds when every signature satisfies the single cofactored equation and, except
    /// with probability about 2⁻¹²⁸, only then: batch and single checks agree.
    fn batch_ok(&mut self, items: &[(&[u8], &Signed)]) -> bool {
        let mut keys = Vec::with_capacity(items.len());
        let mut parts = Vec::with_capacity(items.len());
        let mut transcript = Sha512::new();
        transcript.update(b"rustdht ed25519 batch v1");
        for (message, signed) in items {
            let Some(key) = self.key(&signed.signer) else { return false };
            let Some(p) = SignatureParts::of(message, signed, &key) else { return false };
            transcript.update(signed.signature);
            transcript.update(signed.signer);
            transcript.update(p.k.as_bytes());
            keys.push(key.to_edwards());
            parts.push(p);
        }
        let seed: [u8; 64] = transcript.finalize().into();
        let zs: Vec<Scalar> = (0..items.len() as u32)
            .map(|i| {
                let mut h = Sha512::new();
                h.update(seed);
                h.update(i.to_le_bytes());
                let bytes: [u8; 64] = h.finalize().into();
                Scalar::from(u128::from_le_bytes(bytes[..16].try_into().expect("16 bytes")))
            })
            .collect();
        let b_coefficient: Scalar = parts.iter().zip(&zs).map(|(p, z)| z * p.s).sum();
        let scalars = core::iter::once(-b_coefficient)
            .chain(zs.iter().copied())
            .chain(parts.iter().zip(&zs).map(|(p, z)| z * p.k));
        let points = core::iter::once(ED25519_BASEPOINT_POINT)
            .chain(parts.iter().map(|p| p.r))
            .chain(keys.iter().copied());
        EdwardsPoint::vartime_multiscalar_mul(scalars, points).mul_by_cofactor().is_identity()
    }
}

/// What both checks need of one signature: R (a curve point not of small order), s
/// (canonical, below the group order) and k = SHA-512(R ‖ A ‖ message) mod order.
struct SignatureParts {
    r: EdwardsPoint,
    s: Scalar,
    k: Scalar,
}

impl SignatureParts {
    fn of(message: &[u8], signed: &Signed, key: &VerifyingKey) -> Option<Self> {
        let r_bytes: [u8; 32] = signed.signature[..32].try_into().expect("32 bytes");
        let s_bytes: [u8; 32] = signed.signature[32..].try_into().expect("32 bytes");
        let r = CompressedEdwardsY(r_bytes).decompress()?;
        if r.is_small_order() {
            return None;
        }
        let s = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes))?;
        let mut h = Sha512::new();
        h.update(r_bytes);
        h.update(key.as_bytes());
        h.update(message);
        let wide: [u8; 64] = h.finalize().into();
        Some(SignatureParts { r, s, k: Scalar::from_bytes_mod_order_wide(&wide) })
    }
}

/// The key a value must have in `#`-space: base64url(SHA-256(JSON.stringify(value))).
pub fn content_key(value: &Value) -> String {
    let text = crate::js_json::value_text(value);
    URL_SAFE_NO_PAD.encode(Sha256::digest(text.as_bytes()))
}

pub fn encode_public_key(key: &[u8; PUBLIC_KEY_LEN]) -> String {
    URL_SAFE_NO_PAD.encode(key)
}

pub fn encode_signature(sig: &[u8; SIGNATURE_LEN]) -> String {
    URL_SAFE_NO_PAD.encode(sig)
}

/// Parses the base64url public key of a `~` soul.
pub fn decode_public_key(text: &str) -> Option<[u8; PUBLIC_KEY_LEN]> {
    if text.len() != 43 {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
    bytes.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed(pair: &KeyPair, message: &[u8]) -> Signed {
        Signed { signer: *pair.public_key(), signature: pair.sign(message) }
    }

    #[test]
    fn sign_then_verify_and_tamper() {
        let pair = KeyPair::from_seed(&[7; 32]);
        let msg = update_message("s", "k", &Value::Number(1.0), 5.0);
        let good = signed(&pair, &msg);
        let mut v = Verifier::default();
        assert!(v.verify(&msg, &good));
        let other = update_message("s", "k", &Value::Number(2.0), 5.0);
        assert!(!v.verify(&other, &good));
        let mut bad = good.clone();
        bad.signature[10] ^= 1;
        assert!(!v.verify(&msg, &bad));
    }

    #[test]
    fn batch_finds_the_bad_signature() {
        let pair = KeyPair::from_seed(&[1; 32]);
        let msgs: Vec<Vec<u8>> =
            (0..8).map(|i| update_message("s", &i.to_string(), &Value::Null, 1.0)).collect();
        let mut sigs: Vec<Signed> = msgs.iter().map(|m| signed(&pair, m)).collect();
        let mut v = Verifier::default();
        let items: Vec<(&[u8], &Signed)> = msgs.iter().map(|m| m.as_slice()).zip(sigs.iter()).collect();
        assert_eq!(v.verify_many(&items), vec![true; 8]);
        sigs[3].signature[0] ^= 0x80;
        let items: Vec<(&[u8], &Signed)> = msgs.iter().map(|m| m.as_slice()).zip(sigs.iter()).collect();
        let result = v.verify_many(&items);
        assert_eq!(result.iter().filter(|ok| !**ok).count(), 1);
        assert!(!result[3]);
    }

    /// verify_many falls back to one-by-one checks when the batch equation fails, so its
    /// answers alone cannot tell a broken batch equation from a working one (every batch
    /// would then cost a single check per signature): check the equation itself, and the
    /// key cache that spares re-parsing keys.
    #[test]
    fn the_batch_equation_itself_accepts_good_batches_and_rejects_bad_ones() {
        let pairs: Vec<KeyPair> = (1..=3u8).map(|i| KeyPair::from_seed(&[i; 32])).collect();
        let msgs: Vec<Vec<u8>> =
            (0..6).map(|i| update_message("s", &i.to_string(), &Value::Number(i as f64), 2.0)).collect();
        let mut sigs: Vec<Signed> = msgs.iter().enumerate().map(|(i, m)| signed(&pairs[i % 3], m)).collect();
        let mut v = Verifier::default();
        let items: Vec<(&[u8], &Signed)> = msgs.iter().map(|m| m.as_slice()).zip(sigs.iter()).collect();
        assert!(v.batch_ok(&items));
        assert!(v.batch_ok(&items[..2]));
        assert_eq!(v.keys.len(), 3, "each signer's key parsed once and kept");
        sigs[4].signature[40] ^= 1;
        let items: Vec<(&[u8], &Signed)> = msgs.iter().map(|m| m.as_slice()).zip(sigs.iter()).collect();
        assert!(!v.batch_ok(&items));
        assert!(v.batch_ok(&items[..4]));
    }

    /// A signature whose R carries a small-order (torsion) component: cofactorless
    /// checks accept or reject it depending on the batch around it. Ours must give one
    /// answer whatever else is in the batch.
    #[test]
    fn torsion_in_r_gets_the_same_answer_alone_and_in_any_batch() {
        use curve25519_dalek::constants::EIGHT_TORSION;
        let secret = Scalar::from_bytes_mod_order([7; 32]);
        let public = EdwardsPoint::mul_base(&secret).compress().to_bytes();
        let craft = |message: &[u8], torsion: EdwardsPoint, nonce: u8, valid: bool| {
            let r = Scalar::from_bytes_mod_order([nonce; 32]);
            let r_bytes = (EdwardsPoint::mul_base(&r) + torsion).compress().to_bytes();
            let mut h = Sha512::new();
            h.update(r_bytes);
            h.update(public);
            h.update(message);
            let wide: [u8; 64] = h.finalize().into();
            let k = Scalar::from_bytes_mod_order_wide(&wide);
            let s = r + k * secret + if valid { Scalar::ZERO } else { Scalar::ONE };
            let mut signature = [0u8; SIGNATURE_LEN];
            signature[..32].copy_from_slice(&r_bytes);
            signature[32..].copy_from_slice(s.as_bytes());
            Signed { signer: public, signature }
        };
        let pair = KeyPair::from_seed(&[3; 32]);
        let honest_msgs: Vec<Vec<u8>> = (0..5).map(|i| update_message("h", &i.to_string(), &Value::Null, 1.0)).collect();
        let honest: Vec<Signed> = honest_msgs.iter().map(|m| signed(&pair, m)).collect();
        let mut v = Verifier::default();
        // EIGHT_TORSION[0] is the identity (no torsion); the other seven are the cases.
        for (t, torsion) in EIGHT_TORSION.iter().enumerate().filter(|(t, _)| *t != 0) {
            for valid in [true, false] {
                let message = update_message("t", &t.to_string(), &Value::Bool(valid), 2.0);
                let crafted = craft(&message, *torsion, 11 + t as u8, valid);
                let alone = v.verify(&message, &crafted);
                // The prime-order part decides; the torsion part never does.
                assert_eq!(alone, valid, "torsion point {t}");
                for others in 1..=honest.len() {
                    let mut items: Vec<(&[u8], &Signed)> = vec![(message.as_slice(), &crafted)];
                    items.extend(honest_msgs[..others].iter().map(|m| m.as_slice()).zip(&honest[..others]));
                    let mut expected = vec![true; items.len()];
                    expected[0] = alone;
                    assert_eq!(v.verify_many(&items), expected, "torsion point {t}, {others} others");
                }
            }
        }
    }

    #[test]
    fn weak_and_malformed_keys_never_verify() {
        let mut v = Verifier::default();
        // The identity point (small order) as a public key.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let s = Signed { signer: identity, signature: [0; 64] };
        assert!(!v.verify(b"x", &s));
        assert_eq!(decode_public_key("short"), None);
        let pair = KeyPair::from_seed(&[9; 32]);
        let text = encode_public_key(pair.public_key());
        assert_eq!(text.len(), 43);
        assert_eq!(decode_public_key(&text), Some(*pair.public_key()));
    }

    #[test]
    fn message_layout_separates_fields() {
        // "ab"+"c" and "a"+"bc" must not sign the same bytes.
        let a = update_message("ab", "c", &Value::Null, 1.0);
        let b = update_message("a", "bc", &Value::Null, 1.0);
        assert_ne!(a, b);
        let n = update_message("s", "k", &Value::Number(-0.0), 1.0);
        let z = update_message("s", "k", &Value::Number(0.0), 1.0);
        assert_ne!(n, z, "-0 and 0 are different values to sign");
    }

    #[test]
    fn content_key_is_sha256_of_json_text() {
        // sha256("\"hello\"") in base64url
        assert_eq!(content_key(&Value::Text("hello".into())), "Wqdirjg_u3J688ejbUlApbjECpiUUtIwT8lY_z81Tno");
    }
}
