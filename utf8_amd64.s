//go:build !purego

#include "textflag.h"

// Text that is not ASCII is checked with the lookup algorithm of Keiser
// and Lemire, "Validating UTF-8 in less than one instruction per byte"
// (Software: Practice and Experience, 2021). Each byte is checked with
// the byte before it: three 16-byte tables, indexed by the high and the
// low nibble of the previous byte and by the high nibble of the current
// one, give the errors each nibble is compatible with, and the pair is
// wrong where all three agree. That covers every rule of RFC 3629 §4 but
// one, that a third or fourth byte must follow a lead of that length,
// which is checked apart, from the bytes two and three back.
//
//	TOO_SHORT  0x01  lead followed by ASCII or a lead
//	TOO_LONG   0x02  ASCII followed by a continuation
//	OVERLONG_3 0x04  E0 followed by 80-9F
//	TOO_LARGE  0x08  F4 followed by 90-BF, or F5-FF by 80-BF
//	SURROGATE  0x10  ED followed by A0-BF
//	OVERLONG_2 0x20  C0 or C1 followed by 80-BF
//	TOO_LARGE_1000 / OVERLONG_4
//	           0x40  F5-FF followed by 80-8F, F0 followed by 80-8F
//	TWO_CONTS  0x80  continuation followed by continuation
//
// Each table is repeated in all four 128-bit lanes, as VPSHUFB looks up
// within a lane; the AVX2 code loads the first two.

// Indexed by the high nibble of the previous byte.
DATA byte1High<>+0x00(SB)/8, $0x0202020202020202
DATA byte1High<>+0x08(SB)/8, $0x4915012180808080
DATA byte1High<>+0x10(SB)/8, $0x0202020202020202
DATA byte1High<>+0x18(SB)/8, $0x4915012180808080
DATA byte1High<>+0x20(SB)/8, $0x0202020202020202
DATA byte1High<>+0x28(SB)/8, $0x4915012180808080
DATA byte1High<>+0x30(SB)/8, $0x0202020202020202
DATA byte1High<>+0x38(SB)/8, $0x4915012180808080
GLOBL byte1High<>(SB), RODATA|NOPTR, $64

// Indexed by the low nibble of the previous byte.
DATA byte1Low<>+0x00(SB)/8, $0xcbcbcb8b8383a3e7
DATA byte1Low<>+0x08(SB)/8, $0xcbcbdbcbcbcbcbcb
DATA byte1Low<>+0x10(SB)/8, $0xcbcbcb8b8383a3e7
DATA byte1Low<>+0x18(SB)/8, $0xcbcbdbcbcbcbcbcb
DATA byte1Low<>+0x20(SB)/8, $0xcbcbcb8b8383a3e7
DATA byte1Low<>+0x28(SB)/8, $0xcbcbdbcbcbcbcbcb
DATA byte1Low<>+0x30(SB)/8, $0xcbcbcb8b8383a3e7
DATA byte1Low<>+0x38(SB)/8, $0xcbcbdbcbcbcbcbcb
GLOBL byte1Low<>(SB), RODATA|NOPTR, $64

// Indexed by the high nibble of the current byte.
DATA byte2High<>+0x00(SB)/8, $0x0101010101010101
DATA byte2High<>+0x08(SB)/8, $0x01010101babaaee6
DATA byte2High<>+0x10(SB)/8, $0x0101010101010101
DATA byte2High<>+0x18(SB)/8, $0x01010101babaaee6
DATA byte2High<>+0x20(SB)/8, $0x0101010101010101
DATA byte2High<>+0x28(SB)/8, $0x01010101babaaee6
DATA byte2High<>+0x30(SB)/8, $0x0101010101010101
DATA byte2High<>+0x38(SB)/8, $0x01010101babaaee6
GLOBL byte2High<>(SB), RODATA|NOPTR, $64

DATA nibbleMask<>+0x00(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA nibbleMask<>+0x08(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA nibbleMask<>+0x10(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA nibbleMask<>+0x18(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA nibbleMask<>+0x20(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA nibbleMask<>+0x28(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA nibbleMask<>+0x30(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA nibbleMask<>+0x38(SB)/8, $0x0f0f0f0f0f0f0f0f
GLOBL nibbleMask<>(SB), RODATA|NOPTR, $64

// A byte two back at E0 or above, less 0x60 with saturation, keeps its
// top bit: the byte is the third of its sequence.
DATA third<>+0x00(SB)/8, $0x6060606060606060
DATA third<>+0x08(SB)/8, $0x6060606060606060
DATA third<>+0x10(SB)/8, $0x6060606060606060
DATA third<>+0x18(SB)/8, $0x6060606060606060
DATA third<>+0x20(SB)/8, $0x6060606060606060
DATA third<>+0x28(SB)/8, $0x6060606060606060
DATA third<>+0x30(SB)/8, $0x6060606060606060
DATA third<>+0x38(SB)/8, $0x6060606060606060
GLOBL third<>(SB), RODATA|NOPTR, $64

// The same, three back at F0 or above: a fourth byte.
DATA fourth<>+0x00(SB)/8, $0x7070707070707070
DATA fourth<>+0x08(SB)/8, $0x7070707070707070
DATA fourth<>+0x10(SB)/8, $0x7070707070707070
DATA fourth<>+0x18(SB)/8, $0x7070707070707070
DATA fourth<>+0x20(SB)/8, $0x7070707070707070
DATA fourth<>+0x28(SB)/8, $0x7070707070707070
DATA fourth<>+0x30(SB)/8, $0x7070707070707070
DATA fourth<>+0x38(SB)/8, $0x7070707070707070
GLOBL fourth<>(SB), RODATA|NOPTR, $64

DATA topBits<>+0x00(SB)/8, $0x8080808080808080
DATA topBits<>+0x08(SB)/8, $0x8080808080808080
DATA topBits<>+0x10(SB)/8, $0x8080808080808080
DATA topBits<>+0x18(SB)/8, $0x8080808080808080
DATA topBits<>+0x20(SB)/8, $0x8080808080808080
DATA topBits<>+0x28(SB)/8, $0x8080808080808080
DATA topBits<>+0x30(SB)/8, $0x8080808080808080
DATA topBits<>+0x38(SB)/8, $0x8080808080808080
GLOBL topBits<>(SB), RODATA|NOPTR, $64

// CHECK ors into Y13 the errors of the 32 bytes in, given in Y3, Y4 and
// Y5 the bytes one, two and three before each of them. Y2 is scratch. Y4
// becomes 0x80 where the byte must be the third or fourth of a sequence;
// Y5 the errors of each pair of bytes, TWO_CONTS included, which the xor
// clears exactly where it is required.
#define CHECK(in) \
	VPSUBUSB Y8, Y4, Y4;  \
	VPSUBUSB Y7, Y5, Y5;  \
	VPOR     Y5, Y4, Y4;  \
	VPAND    Y6, Y4, Y4;  \
	VPSRLW   $4, Y3, Y5;  \
	VPAND    Y9, Y5, Y5;  \
	VPSHUFB  Y5, Y12, Y5; \
	VPAND    Y9, Y3, Y3;  \
	VPSHUFB  Y3, Y11, Y3; \
	VPAND    Y3, Y5, Y5;  \
	VPSRLW   $4, in, Y2;  \
	VPAND    Y9, Y2, Y2;  \
	VPSHUFB  Y2, Y10, Y2; \
	VPAND    Y2, Y5, Y5;  \
	VPXOR    Y4, Y5, Y5;  \
	VPOR     Y5, Y13, Y13

// LOAD loads the 32 bytes at off(SI) into in, and the bytes one, two and
// three before each into Y3, Y4 and Y5: three unaligned loads cost less
// than the four shuffles that would build them from in and the block
// before. SI-3+off must not be before p.
#define LOAD(in, off) \
	VMOVDQU off(SI), in;     \
	VMOVDQU (off-1)(SI), Y3; \
	VMOVDQU (off-2)(SI), Y4; \
	VMOVDQU (off-3)(SI), Y5

// ZCHECK is CHECK on 64 bytes with AVX-512, for in, Z3, Z4, Z5 and the
// tables in Z6-Z12 (whose low halves are CHECK's): the same steps, three
// pairs of them merged by VPTERNLOGQ. Non-ASCII text is bound by the
// vector operations per byte, which fall from 16 per 32 bytes to 13
// per 64.
//
//	0xa8: Z4 = (Z4 | Z5) & Z6     0x80: Z5 = Z5 & Z3 & Z2
//	0xf6: Z13 = Z13 | (Z5 ^ Z4)
#define ZCHECK(in) \
	VPSUBUSB   Z8, Z4, Z4;       \
	VPSUBUSB   Z7, Z5, Z5;       \
	VPTERNLOGQ $0xa8, Z6, Z5, Z4; \
	VPSRLW     $4, Z3, Z5;       \
	VPANDQ     Z9, Z5, Z5;       \
	VPSHUFB    Z5, Z12, Z5;      \
	VPANDQ     Z9, Z3, Z3;       \
	VPSHUFB    Z3, Z11, Z3;      \
	VPSRLW     $4, in, Z2;       \
	VPANDQ     Z9, Z2, Z2;       \
	VPSHUFB    Z2, Z10, Z2;      \
	VPTERNLOGQ $0x80, Z2, Z3, Z5; \
	VPTERNLOGQ $0xf6, Z4, Z5, Z13

// ZLOAD is LOAD for 64 bytes.
#define ZLOAD(in, off) \
	VMOVDQU64 off(SI), in;     \
	VMOVDQU64 (off-1)(SI), Z3; \
	VMOVDQU64 (off-2)(SI), Z4; \
	VMOVDQU64 (off-3)(SI), Z5

// ZFOLD ors the high half of Z13 into Y13, before code that writes Y13
// with AVX2 (VEX) instructions, which clear the high half.
#define ZFOLD \
	VEXTRACTI64X4 $1, Z13, Y2; \
	VPOR          Y2, Y13, Y13

// func utf8ValidAVX2(p []byte) (n int, ok bool)
//
// p must begin on a character boundary. Its first n bytes are checked,
// all but the last 31 or fewer, and ok is false if they hold an error. A
// sequence that runs past n is not checked: it is left to the caller,
// from its lead.
//
// Runs of ASCII go 128 bytes per iteration with a single test. Other text
// goes 64 bytes per iteration through CHECK, without a branch on the
// data, until two 64-byte blocks in a row were ASCII: then the ASCII loop
// takes over again. A branch taken on every character, as in a scalar
// loop, would be mispredicted about once per character of mostly-ASCII
// text. With AVX-512 BW (useAVX512UTF8) that text goes 128 bytes per
// iteration through ZCHECK instead, until one iteration was ASCII.
TEXT ·utf8ValidAVX2(SB), NOSPLIT, $0-33
	MOVQ  p_base+0(FP), SI
	MOVQ  p_len+8(FP), DX
	MOVQ  SI, DI
	ADDQ  SI, DX         // end
	VPXOR Y13, Y13, Y13  // errors

	// Long inputs go on from a 32-byte boundary once their first 32 bytes
	// are known to be ASCII, so that no load straddles two cache lines:
	// unaligned, 16 KiB of ASCII ran at 0.78 of the aligned speed.
	CMPQ      p_len+8(FP), $256
	JB        ascii
	VMOVDQU   (SI), Y0
	VPMOVMSKB Y0, AX
	TESTL     AX, AX
	JNZ       mixed0
	ADDQ      $32, SI
	ANDQ      $-32, SI

ascii:
	LEAQ      128(SI), AX
	CMPQ      AX, DX
	JHI       asciiTail
	VMOVDQU   (SI), Y0
	VPOR      32(SI), Y0, Y0
	VPOR      64(SI), Y0, Y0
	VPOR      96(SI), Y0, Y0
	VPMOVMSKB Y0, AX
	TESTL     AX, AX
	JNZ       mixed0
	ADDQ      $128, SI
	JMP       ascii

asciiTail:
	// Fewer than 128 bytes are left, after ASCII. They are checked with
	// loads from SI and loads that end at DX, which overlap them:
	// rechecking bytes known to be ASCII does no harm.
	MOVQ      DX, AX
	SUBQ      SI, AX
	CMPQ      AX, $32
	JB        asciiLast
	VMOVDQU   (SI), Y0
	VPOR      -32(DX), Y0, Y0
	CMPQ      AX, $64
	JB        asciiTest
	VPOR      32(SI), Y0, Y0
	VPOR      -64(DX), Y0, Y0

asciiTest:
	VPMOVMSKB Y0, AX
	TESTL     AX, AX
	JNZ       mixed0
	MOVQ      DX, SI
	JMP       done

asciiLast:
	// Fewer than 32 bytes are left: if the last 32 bytes of p are ASCII
	// too, all of p is. Otherwise the caller does the rest.
	CMPQ      SI, DX
	JEQ       done
	LEAQ      -32(DX), AX
	CMPQ      AX, DI
	JB        done
	VMOVDQU   -32(DX), Y0
	VPMOVMSKB Y0, AX
	TESTL     AX, AX
	JNZ       done
	MOVQ      DX, SI
	JMP       done

mixed0:
	CMPB      ·useAVX512UTF8(SB), $1
	JNE       tables32
	VMOVDQU64 byte1High<>(SB), Z12
	VMOVDQU64 byte1Low<>(SB), Z11
	VMOVDQU64 byte2High<>(SB), Z10
	VMOVDQU64 nibbleMask<>(SB), Z9
	VMOVDQU64 third<>(SB), Z8
	VMOVDQU64 fourth<>(SB), Z7
	VMOVDQU64 topBits<>(SB), Z6
	JMP       tablesDone

tables32:
	VMOVDQU byte1High<>(SB), Y12
	VMOVDQU byte1Low<>(SB), Y11
	VMOVDQU byte2High<>(SB), Y10
	VMOVDQU nibbleMask<>(SB), Y9
	VMOVDQU third<>(SB), Y8
	VMOVDQU fourth<>(SB), Y7
	VMOVDQU topBits<>(SB), Y6

tablesDone:
	XORL    R8, R8        // ASCII 64-byte blocks in a row
	XORL    R9, R9

	// The bytes before SI are ASCII and may be loaded with the block,
	// unless SI is too near the start of p: then the first block is
	// checked with what comes before it as zeros, built with shuffles.
	MOVQ       SI, AX
	SUBQ       DI, AX
	CMPQ       AX, $3
	JAE        pick
	LEAQ       32(SI), AX
	CMPQ       AX, DX
	JHI        done
	VMOVDQU    (SI), Y0
	VPXOR      Y1, Y1, Y1
	VPERM2I128 $0x21, Y0, Y1, Y2 // zeros, then Y0's low lane
	VPALIGNR   $15, Y2, Y0, Y3
	VPALIGNR   $14, Y2, Y0, Y4
	VPALIGNR   $13, Y2, Y0, Y5
	CHECK(Y0)
	ADDQ       $32, SI

pick:
	CMPB ·useAVX512UTF8(SB), $1
	JEQ  zmixed

mixed:
	LEAQ      64(SI), AX
	CMPQ      AX, DX
	JHI       tail
	LOAD(Y0, 0)
	CHECK(Y0)
	LOAD(Y1, 32)
	CHECK(Y1)
	VPOR      Y0, Y1, Y0
	VPMOVMSKB Y0, AX
	INCQ      R8
	TESTL     AX, AX
	CMOVQNE   R9, R8
	ADDQ      $64, SI
	CMPQ      R8, $2
	JB        mixed
	JMP       ascii

	// With AVX-512: 128 bytes per iteration, until one iteration was all
	// ASCII; fewer than 128 bytes left go to the AVX2 loops above.
zmixed:
	LEAQ     128(SI), AX
	CMPQ     AX, DX
	JHI      zleave
	ZLOAD(Z0, 0)
	ZCHECK(Z0)
	ZLOAD(Z1, 64)
	ZCHECK(Z1)
	VPORQ    Z0, Z1, Z0
	VPMOVB2M Z0, K1
	ADDQ     $128, SI
	KORTESTQ K1, K1
	JNZ      zmixed
	ZFOLD
	JMP      ascii

zleave:
	ZFOLD
	XORL R8, R8
	JMP  mixed

tail:
	LEAQ    32(SI), AX
	CMPQ    AX, DX
	JHI     done
	LOAD(Y0, 0)
	CHECK(Y0)
	ADDQ    $32, SI

done:
	SUBQ    DI, SI
	MOVQ    SI, n+24(FP)
	VPTEST  Y13, Y13
	SETEQ   ok+32(FP)
	VZEROUPPER
	RET
