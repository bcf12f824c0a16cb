//! Container names: Docker's validity rule, its error text, and random `adjective_surname` names
//! from berth's own word lists (surnames of notable scientists and engineers).
//!
//! Docker tries a few random names before giving up; the caller does that, reserving each
//! candidate, and asks [`random_name_attempt`] for a name with a digit appended after the first
//! try, as Docker's `GetRandomName(retry)` does.

/// The characters Docker allows, as its error message quotes them.
pub const VALID_NAME_CHARS: &str = "[a-zA-Z0-9][a-zA-Z0-9_.-]";

/// A name outside Docker's rule, with Docker's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Invalid container name ({0}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")]
pub struct InvalidName(pub String);

const ADJECTIVES: &[&str] = &[
    "agile", "amber", "ample", "ardent", "astute", "azure", "blithe", "bold", "brave", "breezy",
    "bright", "brisk", "buoyant", "calm", "candid", "careful", "cheerful", "chipper", "civic",
    "clever", "cosmic", "cozy", "crisp", "curious", "dapper", "daring", "deft", "diligent",
    "dreamy", "eager", "earnest", "elated", "epic", "fair", "fearless", "fervent", "festive",
    "fluent", "focused", "frank", "friendly", "gallant", "gentle", "gifted", "glad", "golden",
    "graceful", "grand", "hardy", "hearty", "honest", "humble", "jaunty", "jolly", "jovial",
    "keen", "kind", "lively", "loyal", "lucid", "lucky", "mellow", "merry", "mighty", "modest",
    "nimble", "noble", "patient", "peaceful", "plucky", "polite", "proud", "quick", "quiet",
    "radiant", "rapid", "ready", "robust", "rosy", "serene", "sharp", "sincere", "snappy", "spry",
    "steady", "sturdy", "sunny", "swift", "tender", "thrifty", "tidy", "trusty", "upbeat",
    "valiant", "vivid", "warm", "wise", "witty", "zealous", "zesty",
];

const SURNAMES: &[&str] = &[
    "abel",
    "agnesi",
    "alhazen",
    "alvarez",
    "ampere",
    "anning",
    "archimedes",
    "aryabhata",
    "avogadro",
    "babbage",
    "backus",
    "banach",
    "bardeen",
    "bassi",
    "bell",
    "bernoulli",
    "bohr",
    "boltzmann",
    "boole",
    "born",
    "bose",
    "brahe",
    "brattain",
    "cajal",
    "cannon",
    "cantor",
    "carnot",
    "carson",
    "cauchy",
    "cavendish",
    "cerf",
    "chadwick",
    "chandrasekhar",
    "clarke",
    "codd",
    "conway",
    "copernicus",
    "coulomb",
    "cray",
    "curie",
    "dalton",
    "darwin",
    "descartes",
    "dijkstra",
    "dirac",
    "doppler",
    "edison",
    "einstein",
    "engelbart",
    "eratosthenes",
    "euclid",
    "euler",
    "faraday",
    "fermat",
    "fermi",
    "feynman",
    "fibonacci",
    "fleming",
    "fourier",
    "franklin",
    "fresnel",
    "galileo",
    "galois",
    "gauss",
    "germain",
    "gibbs",
    "godel",
    "goodall",
    "hamilton",
    "hamming",
    "harvey",
    "hawking",
    "heisenberg",
    "herschel",
    "hertz",
    "hilbert",
    "hodgkin",
    "hollerith",
    "hooke",
    "hopper",
    "hubble",
    "huygens",
    "hypatia",
    "jacobi",
    "jemison",
    "johnson",
    "joule",
    "kahan",
    "kelvin",
    "kepler",
    "kernighan",
    "khayyam",
    "kilby",
    "knuth",
    "kovalevskaya",
    "lagrange",
    "lamarr",
    "lamport",
    "laplace",
    "lavoisier",
    "leavitt",
    "leibniz",
    "lemaitre",
    "linnaeus",
    "liskov",
    "lorentz",
    "lovelace",
    "maxwell",
    "mcclintock",
    "meitner",
    "mendel",
    "mendeleev",
    "michelson",
    "minsky",
    "mirzakhani",
    "moore",
    "morse",
    "napier",
    "nash",
    "neumann",
    "newton",
    "nightingale",
    "nobel",
    "noether",
    "noyce",
    "ohm",
    "pascal",
    "pasteur",
    "pauli",
    "pauling",
    "payne",
    "perlman",
    "planck",
    "poincare",
    "ptolemy",
    "raman",
    "ramanujan",
    "riemann",
    "ritchie",
    "rontgen",
    "rubin",
    "rutherford",
    "sagan",
    "salk",
    "schrodinger",
    "shannon",
    "snell",
    "somerville",
    "stokes",
    "sutherland",
    "tesla",
    "thompson",
    "torvalds",
    "turing",
    "volta",
    "watt",
    "wiles",
    "wilkes",
    "wirth",
    "wozniak",
    "wu",
    "yalow",
    "yonath",
    "zuse",
];

/// Random bits from the kernel; the clock and pid if getrandom fails (names need not be secret).
fn random_u64() -> u64 {
    let mut bytes = [0u8; 8];
    // SAFETY: getrandom writes at most `len` bytes into the buffer it is given.
    let n = unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), bytes.len(), libc::GRND_NONBLOCK) };
    if n == bytes.len() as isize {
        return u64::from_le_bytes(bytes);
    }
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    // splitmix64 of the clock and pid.
    let mut z = t ^ (u64::from(std::process::id()) << 32);
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A random `adjective_surname`.
pub fn random_name() -> String {
    random_name_attempt(0)
}

/// The name to try on attempt `attempt` (0 first): from the second attempt on, a random digit is
/// appended (`brisk_noether7`), which makes a clash with an existing name less likely.
pub fn random_name_attempt(attempt: usize) -> String {
    let r = random_u64();
    let a = ADJECTIVES[(r % ADJECTIVES.len() as u64) as usize];
    let s = SURNAMES[((r >> 20) % SURNAMES.len() as u64) as usize];
    if attempt == 0 {
        format!("{a}_{s}")
    } else {
        format!("{a}_{s}{}", (r >> 50) % 10)
    }
}

/// Docker's rule: `^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$` (so at least two characters).
pub fn valid_name(name: &str) -> bool {
    let b = name.strip_prefix('/').unwrap_or(name).as_bytes();
    match b.split_first() {
        Some((first, rest)) => {
            first.is_ascii_alphanumeric()
                && !rest.is_empty()
                && rest
                    .iter()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
        }
        None => false,
    }
}

/// [`valid_name`] as a result carrying Docker's message for the name as given.
pub fn check_name(name: &str) -> Result<(), InvalidName> {
    if valid_name(name) {
        Ok(())
    } else {
        Err(InvalidName(name.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_follow_dockers_rule() {
        for ok in ["web", "/web", "a1", "my_app.v2-x", "0_", "A.", "x--"] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in [
            "", "/", "a", "/a", "_web", "-x", ".x", "we b", "x/y", "//xy", "café", "ab\n", "a:b",
        ] {
            assert!(!valid_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn error_text_is_dockers() {
        assert_eq!(
            check_name("bad name").unwrap_err().to_string(),
            "Invalid container name (bad name), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        );
        assert_eq!(check_name("good"), Ok(()));
        assert!(InvalidName(String::new())
            .to_string()
            .contains(VALID_NAME_CHARS));
    }

    #[test]
    fn word_lists_are_clean() {
        assert!(ADJECTIVES.len() >= 80, "{}", ADJECTIVES.len());
        assert!(SURNAMES.len() >= 150, "{}", SURNAMES.len());
        for list in [ADJECTIVES, SURNAMES] {
            let unique: HashSet<_> = list.iter().collect();
            assert_eq!(unique.len(), list.len(), "duplicate word");
            for w in list {
                assert!(
                    !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()),
                    "{w}"
                );
            }
        }
    }

    #[test]
    fn random_names_are_valid_and_varied() {
        let mut seen = HashSet::new();
        for _ in 0..200 {
            let n = random_name();
            let (a, s) = n.split_once('_').expect("one underscore");
            assert!(ADJECTIVES.contains(&a) && SURNAMES.contains(&s), "{n}");
            assert!(valid_name(&n), "{n}");
            seen.insert(n);
        }
        assert!(
            seen.len() > 150,
            "only {} distinct names of 200",
            seen.len()
        );
        let retry = random_name_attempt(3);
        let last = retry.as_bytes()[retry.len() - 1];
        assert!(last.is_ascii_digit() && valid_name(&retry), "{retry}");
    }
}
