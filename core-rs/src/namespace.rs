//! Who may write where. The soul's first character picks the namespace:
//!
//! - `~<publicKey>` and `~<publicKey>/…`: protected. Only updates signed by that key.
//! - `#…`: content-addressed. Each key must be the content hash of its value
//!   ([`crate::crypto::content_key`]), so a property can never change: immutable by
//!   construction, and checkable by anyone (GunDB's `#` convention).
//! - anything else: public. Unsigned writes are fine; a signature, when present, has
//!   already been verified and its signer is recorded.

use crate::crypto::{content_key, decode_public_key, PUBLIC_KEY_LEN};
use crate::error::Rejection;
use crate::value::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Namespace {
    Protected { owner: [u8; PUBLIC_KEY_LEN] },
    ContentAddressed,
    Public,
}

impl Namespace {
    pub fn of(soul: &str) -> Result<Namespace, Rejection> {
        if let Some(rest) = soul.strip_prefix('~') {
            let key_text = rest.split('/').next().unwrap_or("");
            let owner = decode_public_key(key_text).ok_or(Rejection::BadOwnerKey)?;
            Ok(Namespace::Protected { owner })
        } else if soul.starts_with('#') {
            Ok(Namespace::ContentAddressed)
        } else {
            Ok(Namespace::Public)
        }
    }

    pub fn is_immutable(self) -> bool {
        self == Namespace::ContentAddressed
    }
}

/// The public key (as written in the soul) whose protected space `soul` is in: `~K` and
/// `~K/…` give `K`; any other soul, or a `~` soul whose key is not a valid public key,
/// gives None. The shell asks this instead of matching prefixes itself.
pub fn space_owner(soul: &str) -> Option<&str> {
    match Namespace::of(soul) {
        Ok(Namespace::Protected { .. }) => soul[1..].split('/').next(),
        _ => None,
    }
}

/// Checks one update against its soul's namespace. Signature validity is checked
/// elsewhere (in batches); this only asks whether the right key signed.
pub fn admit(
    soul: &str,
    key: &str,
    value: &Value,
    signer: Option<&[u8; PUBLIC_KEY_LEN]>,
) -> Result<Namespace, Rejection> {
    let namespace = Namespace::of(soul)?;
    match namespace {
        Namespace::Protected { owner } => match signer {
            None => return Err(Rejection::SignatureMissing),
            Some(s) if *s != owner => return Err(Rejection::NotOwner),
            Some(_) => {}
        },
        Namespace::ContentAddressed => {
            if content_key(value) != key {
                return Err(Rejection::HashMismatch);
            }
        }
        Namespace::Public => {}
    }
    Ok(namespace)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{encode_public_key, KeyPair};

    #[test]
    fn space_owner_names_the_key_of_protected_souls_only() {
        let key = encode_public_key(KeyPair::from_seed(&[7; 32]).public_key());
        assert_eq!(space_owner(&format!("~{key}")), Some(key.as_str()));
        assert_eq!(space_owner(&format!("~{key}/profile/name")), Some(key.as_str()));
        // A prefix match on text would wrongly claim these: the key must end at '/'.
        assert_eq!(space_owner(&format!("~{key}x")), None);
        assert_eq!(space_owner(&format!("~{key}x/profile")), None);
        assert_eq!(space_owner("~not-a-key/profile"), None);
        assert_eq!(space_owner("~"), None);
        assert_eq!(space_owner("public/soul"), None);
        assert_eq!(space_owner(&format!("#{key}")), None);
    }

    #[test]
    fn protected_space_needs_the_owners_signature() {
        let owner = KeyPair::from_seed(&[1; 32]);
        let other = KeyPair::from_seed(&[2; 32]);
        let soul = format!("~{}/profile", encode_public_key(owner.public_key()));
        assert!(admit(&soul, "name", &Value::Null, Some(owner.public_key())).is_ok());
        assert_eq!(admit(&soul, "name", &Value::Null, Some(other.public_key())), Err(Rejection::NotOwner));
        assert_eq!(admit(&soul, "name", &Value::Null, None), Err(Rejection::SignatureMissing));
        assert_eq!(admit("~alice", "name", &Value::Null, None), Err(Rejection::BadOwnerKey));
        assert_eq!(admit("~", "name", &Value::Null, None), Err(Rejection::BadOwnerKey));
    }

    #[test]
    fn content_space_checks_the_hash() {
        let v = Value::Text("hello".into());
        let key = content_key(&v);
        assert_eq!(admit("#", &key, &v, None), Ok(Namespace::ContentAddressed));
        assert_eq!(admit("#docs", "wrong", &v, None), Err(Rejection::HashMismatch));
        assert_eq!(admit("#docs", &key, &Value::Text("other".into()), None), Err(Rejection::HashMismatch));
    }

    #[test]
    fn public_space_takes_anything() {
        assert_eq!(admit("posts/1", "title", &Value::Null, None), Ok(Namespace::Public));
    }
}
