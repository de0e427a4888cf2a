package spam

import (
	"encoding/binary"
	"math"
	"slices"
	"strings"
	"unicode"
)

// The shape of a fingerprint: MinHash over character shingles, cut into
// bands (locality-sensitive hashing). Two texts share at least one band
// with probability 1-(1-s^Rows)^Bands, s being the Jaccard similarity of
// their shingle sets: above 0.99 at s=0.9, 0.89 at s=0.7, 0.54 at s=0.55,
// 0.06 at s=0.3. With 8 bands of 4 rows the threshold, (1/8)^(1/4), sits
// near 0.6.
const (
	// Bands is how many band hashes a fingerprint has.
	Bands = 8
	// Rows is how many MinHash values make one band.
	Rows = 4
	// Shingle is the length of a shingle in characters (runes).
	Shingle = 5
	// MinFingerprintRunes is the shortest normalised text that gets a
	// fingerprint: shorter texts ("hi", "thanks!") are alike between
	// strangers by nature and say nothing about a campaign; the rate of
	// new recipients watches those senders.
	MinFingerprintRunes = 20
	// maxFingerprintRunes bounds the work per message: the first 4096
	// runes of a normalised text make its fingerprint.
	maxFingerprintRunes = 4096
)

// Fingerprint is what is kept of a text: Bands keyed hashes, each of Rows
// minimum hashes of its shingles. The text cannot be read back from it;
// without the key, not even a guess can be checked.
type Fingerprint [Bands]int64

// Fingerprinter makes fingerprints with a secret key.
type Fingerprinter struct {
	// The i-th MinHash function of a shingle's keyed hash h is
	// mul[i]*h + add[i] (mod 2^64, mul odd): a permutation, one multiply
	// and one add per shingle and function.
	mul, add [Bands * Rows]uint64
	start    uint64 // FNV-1a state after the key
}

// NewFingerprinter returns a Fingerprinter keyed with key (every node of
// one database must use the same key).
func NewFingerprinter(key []byte) *Fingerprinter {
	f := &Fingerprinter{start: fnvOffset}
	for _, b := range key {
		f.start = (f.start ^ uint64(b)) * fnvPrime
	}
	s := f.start
	for i := range f.mul {
		s = mix(s + 0x9e3779b97f4a7c15)
		f.mul[i] = s | 1
		s = mix(s + 0x9e3779b97f4a7c15)
		f.add[i] = s
	}
	return f
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// mix is the finaliser of splitmix64: a fast, well-spread permutation of
// 64-bit values.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// Normalize is the text as fingerprints see it: compatibility forms
// folded, invisible characters and combining marks removed, lower case,
// letters that look alike across scripts folded to Latin (Cyrillic а,
// Greek ο…), every run of digits one "0" (order numbers, prices and codes
// vary per recipient), links cut to their host (tracking paths vary), and
// everything else that is not a letter or digit dropped: "E.a.r.n",
// "E a r n" and "Earn" read alike. What a recipient reads as the same
// message normalises to the same text.
func Normalize(text string) string {
	text = clean(text)
	var b strings.Builder
	b.Grow(len(text))
	digit := false
	for _, tok := range strings.Fields(text) {
		if strings.Contains(tok, ".") && strings.ContainsAny(tok, "/?") {
			if hosts := tokenHosts(tok); len(hosts) == 1 {
				tok = hosts[0]
			}
		}
		for _, r := range tok {
			switch {
			case unicode.IsDigit(r):
				if !digit {
					b.WriteRune('0')
				}
				digit = true
			case unicode.IsLetter(r):
				if l, ok := lookalikes[r]; ok {
					r = l
				}
				b.WriteRune(r)
				digit = false
			}
		}
	}
	return b.String()
}

// lookalikes are letters of other scripts that read as Latin ones in most
// fonts, the ones spammers swap in to change a text's bytes, not its look.
var lookalikes = map[rune]rune{
	'а': 'a', 'в': 'b', 'е': 'e', 'ё': 'e', 'і': 'i', 'ї': 'i', 'ј': 'j', 'к': 'k', 'м': 'm', 'н': 'h', 'о': 'o',
	'р': 'p', 'с': 'c', 'т': 't', 'у': 'y', 'х': 'x', 'ѕ': 's', 'һ': 'h', 'ԁ': 'd', 'ԛ': 'q', 'ԝ': 'w', 'ӏ': 'l',
	'α': 'a', 'β': 'b', 'ε': 'e', 'ι': 'i', 'κ': 'k', 'ν': 'v', 'ο': 'o', 'ρ': 'p', 'τ': 't', 'υ': 'u', 'χ': 'x',
	'ı': 'i',
}

// Fingerprint returns the fingerprint of text, or false when its
// normalised form is shorter than MinFingerprintRunes.
func (f *Fingerprinter) Fingerprint(text string) (Fingerprint, bool) {
	runes := []rune(Normalize(text))
	if len(runes) < MinFingerprintRunes {
		return Fingerprint{}, false
	}
	runes = runes[:min(len(runes), maxFingerprintRunes)]
	var mins [Bands * Rows]uint64
	for i := range mins {
		mins[i] = math.MaxUint64
	}
	var buf [Shingle * 4]byte
	for i := 0; i+Shingle <= len(runes); i++ {
		h := f.start
		for _, r := range runes[i : i+Shingle] {
			binary.LittleEndian.PutUint32(buf[:4], uint32(r))
			for _, c := range buf[:4] {
				h = (h ^ uint64(c)) * fnvPrime
			}
		}
		h = mix(h)
		for j := range mins {
			if v := f.mul[j]*h + f.add[j]; v < mins[j] {
				mins[j] = v
			}
		}
	}
	var fp Fingerprint
	for band := range Bands {
		h := f.start ^ uint64(band+1)
		for _, v := range mins[band*Rows : (band+1)*Rows] {
			h = mix(h ^ v)
		}
		fp[band] = int64(h)
	}
	return fp, true
}

// Sorted returns the band hashes in increasing order (the order in which
// a store writes them, so that concurrent writers never deadlock).
func (fp Fingerprint) Sorted() []int64 {
	s := fp[:]
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
