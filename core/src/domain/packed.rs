//! Small records that change as a whole, stored as one string scalar instead of an automerge map.
//!
//! A check-in is one event and a visit's costs are saved from one form: last-writer-wins on the
//! whole record is the right merge, and one scalar costs one operation where a map of nested
//! fields costs an object and an operation per field (automerge 0.12 pays ~25 µs per operation,
//! so this keeps a visit write and a document load cheap).

use super::customer::GeoPoint;
use super::visit::{CheckPoint, Costs, LocationProvider};

/// A record with a stable `;`-separated text form.
pub trait Packed: Sized {
    fn pack(&self) -> String;
    fn unpack(text: &str) -> Option<Self>;
}

macro_rules! packed_scalar {
    ($ty:ty, $what:literal) => {
        impl autosurgeon::Reconcile for $ty {
            type Key<'a> = autosurgeon::reconcile::NoKey;
            fn reconcile<R: autosurgeon::Reconciler>(&self, mut reconciler: R) -> Result<(), R::Error> {
                reconciler.str(Packed::pack(self))
            }
        }

        impl autosurgeon::Hydrate for $ty {
            fn hydrate_string(s: &str) -> Result<Self, autosurgeon::HydrateError> {
                <$ty as Packed>::unpack(s)
                    .ok_or_else(|| autosurgeon::HydrateError::unexpected($what, "a malformed record".to_string()))
            }
        }
    };
}

packed_scalar!(CheckPoint, "a packed check point");
packed_scalar!(Costs, "packed costs");

/// Rust prints f64 in the shortest form that parses back to the same value, so this round-trips.
impl Packed for CheckPoint {
    fn pack(&self) -> String {
        let p = &self.position;
        format!(
            "{};{};{};{};{};{}",
            self.at,
            p.lat,
            p.lng,
            p.accuracy_m,
            self.provider.code(),
            u8::from(self.mock_location)
        )
    }

    fn unpack(text: &str) -> Option<Self> {
        let mut f = text.split(';');
        let at = f.next()?.parse().ok()?;
        let position = GeoPoint {
            lat: f.next()?.parse().ok()?,
            lng: f.next()?.parse().ok()?,
            accuracy_m: f.next()?.parse().ok()?,
        };
        let provider = LocationProvider::from_code(f.next()?)?;
        let mock_location = match f.next()? {
            "0" => false,
            "1" => true,
            _ => return None,
        };
        f.next().is_none().then_some(CheckPoint { at, position, provider, mock_location })
    }
}

impl Packed for Costs {
    fn pack(&self) -> String {
        format!("{};{};{}", self.transport_fen, self.gift_fen, self.other_fen)
    }

    fn unpack(text: &str) -> Option<Self> {
        let mut f = text.split(';');
        let costs = Costs {
            transport_fen: f.next()?.parse().ok()?,
            gift_fen: f.next()?.parse().ok()?,
            other_fen: f.next()?.parse().ok()?,
        };
        f.next().is_none().then_some(costs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_exactly() {
        let c = CheckPoint {
            at: 1_753_056_000_123,
            position: GeoPoint { lat: 31.689_264_781_128_85, lng: -105.424_775_150_993, accuracy_m: 0.1 + 0.2 },
            provider: LocationProvider::Fused,
            mock_location: true,
        };
        assert_eq!(CheckPoint::unpack(&c.pack()), Some(c));
        let costs = Costs { transport_fen: 1, gift_fen: 0, other_fen: i64::MAX };
        assert_eq!(Costs::unpack(&costs.pack()), Some(costs));
    }

    #[test]
    fn malformed_text_is_refused() {
        for bad in ["", "1;2;3", "1;2;3;4;gps;0;extra", "x;2;3;4;gps;0", "1;2;3;4;teleport;0", "1;2;3;4;gps;2"] {
            assert_eq!(CheckPoint::unpack(bad), None, "{bad}");
        }
        for bad in ["", "1;2", "1;2;3;4", "1;a;3"] {
            assert_eq!(Costs::unpack(bad), None, "{bad}");
        }
    }
}
