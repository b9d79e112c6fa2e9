package vipalloc

// The constants and the mixing function of ERTS's make_hash2 (erts/emulator
// beam/utils.c). HCONST is the golden ratio Bob Jenkins' lookup2 starts
// from; make_hash2 seeds a binary's hash with HCONST_13 = 13*HCONST.
const (
	hconst   uint32 = 0x9e3779b9
	hconst13 uint32 = 0x08d12e65 // 13*hconst mod 2^32 = 147926629, as the C constant wraps
)

// mix is Bob Jenkins' lookup2 mix, ERTS's MIX macro.
func mix(a, b, c uint32) (uint32, uint32, uint32) {
	a -= b
	a -= c
	a ^= c >> 13
	b -= c
	b -= a
	b ^= a << 8
	c -= a
	c -= b
	c ^= b >> 13
	a -= b
	a -= c
	a ^= c >> 12
	b -= c
	b -= a
	b ^= a << 16
	c -= a
	c -= b
	c ^= b >> 5
	a -= b
	a -= c
	a ^= c >> 3
	b -= c
	b -= a
	b ^= a << 10
	c -= a
	c -= b
	c ^= b >> 15
	return a, b, c
}

// blockHash is ERTS's block_hash: lookup2 over k with initval as the
// previous hash, 12-byte little-endian blocks, the total length added to c
// before the last (up to 11-byte) block, whose bytes 8-10 go to the upper
// three bytes of c.
func blockHash(k []byte, initval uint32) uint32 {
	a, b, c := hconst, hconst, initval
	length := uint32(len(k)) // ERTS keeps the length in a 32-bit word too
	for len(k) >= 12 {
		a += uint32(k[0]) | uint32(k[1])<<8 | uint32(k[2])<<16 | uint32(k[3])<<24
		b += uint32(k[4]) | uint32(k[5])<<8 | uint32(k[6])<<16 | uint32(k[7])<<24
		c += uint32(k[8]) | uint32(k[9])<<8 | uint32(k[10])<<16 | uint32(k[11])<<24
		a, b, c = mix(a, b, c)
		k = k[12:]
	}
	c += length
	// The C switch falls through from case len down to case 1.
	n := len(k)
	if n >= 11 {
		c += uint32(k[10]) << 24
	}
	if n >= 10 {
		c += uint32(k[9]) << 16
	}
	if n >= 9 {
		c += uint32(k[8]) << 8
	}
	if n >= 8 {
		b += uint32(k[7]) << 24
	}
	if n >= 7 {
		b += uint32(k[6]) << 16
	}
	if n >= 6 {
		b += uint32(k[5]) << 8
	}
	if n >= 5 {
		b += uint32(k[4])
	}
	if n >= 4 {
		a += uint32(k[3]) << 24
	}
	if n >= 3 {
		a += uint32(k[2]) << 16
	}
	if n >= 2 {
		a += uint32(k[1]) << 8
	}
	if n >= 1 {
		a += uint32(k[0])
	}
	_, _, c = mix(a, b, c)
	return c
}

// Hash2 returns ERTS's make_hash2 of the Erlang binary b: the full 32-bit
// hash from which erlang:phash2/1,2 are derived. An empty binary hashes to
// the seed HCONST_13 (147926629); any other binary to
// block_hash(b, HCONST_13).
func Hash2(b []byte) uint32 {
	if len(b) == 0 {
		return hconst13
	}
	return blockHash(b, hconst13)
}

// Phash2 returns erlang:phash2(B, Range) for the binary b: Hash2(b) mod rng,
// in [0, rng). As Erlang's Range may be 2^32, which does not fit a uint32,
// rng 0 stands for 2^32 and returns Hash2(b) unreduced.
func Phash2(b []byte, rng uint32) uint32 {
	h := Hash2(b)
	if rng == 0 {
		return h
	}
	return h % rng
}
