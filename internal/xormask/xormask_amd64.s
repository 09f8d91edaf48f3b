//go:build !purego

#include "textflag.h"

// func xorBulk(b []byte, key uint64)
//
// The bulk goes 128 bytes per iteration with AVX2 (64 with SSE2): four
// independent load-xor-store chains keep the load and store ports busy.
// What remains is done 16, 8, 4, 2 and 1 bytes at a time. The key is a
// 4-byte pattern repeated, so it needs rotating only after steps of 1 or
// 2 bytes.
TEXT ·xorBulk(SB), NOSPLIT, $0-32
	MOVQ b_base+0(FP), DI
	MOVQ b_len+8(FP), CX
	MOVQ key+24(FP), AX
	CMPQ CX, $512
	JB   wide

	// Long inputs first advance DI to a 32-byte boundary, so that no
	// vector load or store below straddles two cache lines: unaligned,
	// 16 KiB ran at 0.64 of the aligned speed.
	MOVQ  DI, DX
	NEGQ  DX
	ANDQ  $31, DX
	JZ    wide
	SUBQ  DX, CX
	TESTQ $1, DX
	JZ    head2
	XORB  AL, (DI)
	RORQ  $8, AX
	INCQ  DI

head2:
	TESTQ $2, DX
	JZ    head4
	XORW  AX, (DI)
	RORQ  $16, AX
	ADDQ  $2, DI

head4:
	TESTQ $4, DX
	JZ    head8
	XORL  AX, (DI)
	ADDQ  $4, DI

head8:
	TESTQ $8, DX
	JZ    head16
	XORQ  AX, (DI)
	ADDQ  $8, DI

head16:
	TESTQ $16, DX
	JZ    wide
	XORQ  AX, (DI)
	XORQ  AX, 8(DI)
	ADDQ  $16, DI

wide:
	CMPQ       CX, $16
	JB         tail
	MOVQ       AX, X0
	PUNPCKLQDQ X0, X0
	CMPQ       CX, $64
	JB         sse16
	CMPB       ·useAVX2(SB), $1
	JNE        sse64
	VPBROADCASTQ X0, Y0

	// Loop heads are aligned for the decoded-instruction cache: without
	// it, the same loop measured up to 20% slower depending on where the
	// linker happened to place it.
	PCALIGN $32

avx128:
	CMPQ    CX, $128
	JB      avx32
	VPXOR   (DI), Y0, Y1
	VPXOR   32(DI), Y0, Y2
	VPXOR   64(DI), Y0, Y3
	VPXOR   96(DI), Y0, Y4
	VMOVDQU Y1, (DI)
	VMOVDQU Y2, 32(DI)
	VMOVDQU Y3, 64(DI)
	VMOVDQU Y4, 96(DI)
	ADDQ    $128, DI
	SUBQ    $128, CX
	JMP     avx128

avx32:
	CMPQ    CX, $32
	JB      avxdone
	VPXOR   (DI), Y0, Y1
	VMOVDQU Y1, (DI)
	ADDQ    $32, DI
	SUBQ    $32, CX
	JMP     avx32

avxdone:
	// Leave no dirty upper YMM state behind: SSE code running next,
	// here or in the caller, would pay Intel's AVX-SSE transition cost.
	VZEROUPPER
	JMP sse16

	PCALIGN $32

sse64:
	CMPQ  CX, $64
	JB    sse16
	MOVOU (DI), X1
	MOVOU 16(DI), X2
	MOVOU 32(DI), X3
	MOVOU 48(DI), X4
	PXOR  X0, X1
	PXOR  X0, X2
	PXOR  X0, X3
	PXOR  X0, X4
	MOVOU X1, (DI)
	MOVOU X2, 16(DI)
	MOVOU X3, 32(DI)
	MOVOU X4, 48(DI)
	ADDQ  $64, DI
	SUBQ  $64, CX
	JMP   sse64

sse16:
	CMPQ  CX, $16
	JB    tail
	MOVOU (DI), X1
	PXOR  X0, X1
	MOVOU X1, (DI)
	ADDQ  $16, DI
	SUBQ  $16, CX
	JMP   sse16

tail:
	CMPQ CX, $8
	JB   tail4
	XORQ AX, (DI)
	ADDQ $8, DI
	SUBQ $8, CX

tail4:
	CMPQ CX, $4
	JB   tail2
	XORL AX, (DI)
	ADDQ $4, DI
	SUBQ $4, CX

tail2:
	CMPQ CX, $2
	JB   tail1
	XORW AX, (DI)
	RORQ $16, AX
	ADDQ $2, DI
	SUBQ $2, CX

tail1:
	TESTQ CX, CX
	JZ    done
	XORB  AL, (DI)

done:
	RET

// func hasAVX2() bool
TEXT ·hasAVX2(SB), NOSPLIT, $0-1
	// CPUID leaf 7 must exist.
	MOVL $0, AX
	CPUID
	CMPL AX, $7
	JB   no

	// Leaf 1, ECX: OSXSAVE (bit 27) and AVX (bit 28).
	MOVL $1, AX
	CPUID
	ANDL $0x18000000, CX
	CMPL CX, $0x18000000
	JNE  no

	// XCR0: the operating system saves XMM (bit 1) and YMM (bit 2) state.
	MOVL   $0, CX
	XGETBV
	ANDL   $6, AX
	CMPL   AX, $6
	JNE    no

	// Leaf 7, subleaf 0, EBX: AVX2 (bit 5).
	MOVL $7, AX
	MOVL $0, CX
	CPUID
	BTL  $5, BX
	JCC  no
	MOVB $1, ret+0(FP)
	RET

no:
	MOVB $0, ret+0(FP)
	RET

// func xorCopyBulk(dst, src []byte, key uint64) (ascii bool)
//
// xorBulk with a source apart from the destination (or the same), which
// also ors every byte it stores into an accumulator: Y5 (X5) for the
// vector steps, R10 for the scalar ones. Loads of a block all come
// before its stores, so dst may be src. The accumulator costs one VPOR
// per 32 bytes, off the load-store chains, and no branch.
TEXT ·xorCopyBulk(SB), NOSPLIT, $0-57
	MOVQ dst_base+0(FP), DI
	MOVQ src_base+24(FP), SI
	MOVQ src_len+32(FP), CX
	MOVQ key+48(FP), AX
	XORQ R10, R10
	PXOR X5, X5
	CMPQ CX, $512
	JB   cwide

	// Long inputs first advance DI to a 32-byte boundary, as xorBulk
	// does: the stores then never straddle two cache lines. SI keeps its
	// own alignment; in place, it is the same.
	MOVQ  DI, DX
	NEGQ  DX
	ANDQ  $31, DX
	JZ    cwide
	SUBQ  DX, CX
	TESTQ $1, DX
	JZ    chead2
	MOVBLZX (SI), BX
	MOVBLZX AL, R11
	XORL  R11, BX
	MOVB  BX, (DI)
	ORQ   BX, R10
	RORQ  $8, AX
	INCQ  SI
	INCQ  DI

chead2:
	TESTQ $2, DX
	JZ    chead4
	MOVWLZX (SI), BX
	MOVWLZX AX, R11
	XORL  R11, BX
	MOVW  BX, (DI)
	ORQ   BX, R10
	RORQ  $16, AX
	ADDQ  $2, SI
	ADDQ  $2, DI

chead4:
	TESTQ $4, DX
	JZ    chead8
	MOVL  (SI), BX
	XORL  AX, BX
	MOVL  BX, (DI)
	ORQ   BX, R10
	ADDQ  $4, SI
	ADDQ  $4, DI

chead8:
	TESTQ $8, DX
	JZ    chead16
	MOVQ  (SI), BX
	XORQ  AX, BX
	MOVQ  BX, (DI)
	ORQ   BX, R10
	ADDQ  $8, SI
	ADDQ  $8, DI

chead16:
	TESTQ $16, DX
	JZ    cwide
	MOVQ  (SI), BX
	XORQ  AX, BX
	MOVQ  BX, (DI)
	ORQ   BX, R10
	MOVQ  8(SI), BX
	XORQ  AX, BX
	MOVQ  BX, 8(DI)
	ORQ   BX, R10
	ADDQ  $16, SI
	ADDQ  $16, DI

cwide:
	CMPQ       CX, $16
	JB         ctail
	MOVQ       AX, X0
	PUNPCKLQDQ X0, X0
	CMPQ       CX, $64
	JB         csse16
	CMPB       ·useAVX2(SB), $1
	JNE        csse64
	VPBROADCASTQ X0, Y0
	VPXOR      Y5, Y5, Y5

	PCALIGN $32

cavx128:
	CMPQ    CX, $128
	JB      cavx32
	VPXOR   (SI), Y0, Y1
	VPXOR   32(SI), Y0, Y2
	VPXOR   64(SI), Y0, Y3
	VPXOR   96(SI), Y0, Y4
	VMOVDQU Y1, (DI)
	VMOVDQU Y2, 32(DI)
	VMOVDQU Y3, 64(DI)
	VMOVDQU Y4, 96(DI)
	VPOR    Y1, Y2, Y1
	VPOR    Y3, Y4, Y3
	VPOR    Y1, Y5, Y5
	VPOR    Y3, Y5, Y5
	ADDQ    $128, SI
	ADDQ    $128, DI
	SUBQ    $128, CX
	JMP     cavx128

cavx32:
	CMPQ    CX, $32
	JB      cavxdone
	VPXOR   (SI), Y0, Y1
	VMOVDQU Y1, (DI)
	VPOR    Y1, Y5, Y5
	ADDQ    $32, SI
	ADDQ    $32, DI
	SUBQ    $32, CX
	JMP     cavx32

cavxdone:
	// Fold the accumulator into its low lane, which the SSE steps go on
	// with, before VZEROUPPER clears the high one.
	VEXTRACTI128 $1, Y5, X1
	VPOR         X1, X5, X5
	VZEROUPPER
	JMP          csse16

	PCALIGN $32

csse64:
	CMPQ  CX, $64
	JB    csse16
	MOVOU (SI), X1
	MOVOU 16(SI), X2
	MOVOU 32(SI), X3
	MOVOU 48(SI), X4
	PXOR  X0, X1
	PXOR  X0, X2
	PXOR  X0, X3
	PXOR  X0, X4
	MOVOU X1, (DI)
	MOVOU X2, 16(DI)
	MOVOU X3, 32(DI)
	MOVOU X4, 48(DI)
	POR   X2, X1
	POR   X4, X3
	POR   X1, X5
	POR   X3, X5
	ADDQ  $64, SI
	ADDQ  $64, DI
	SUBQ  $64, CX
	JMP   csse64

csse16:
	CMPQ  CX, $16
	JB    ctail
	MOVOU (SI), X1
	PXOR  X0, X1
	MOVOU X1, (DI)
	POR   X1, X5
	ADDQ  $16, SI
	ADDQ  $16, DI
	SUBQ  $16, CX
	JMP   csse16

ctail:
	CMPQ CX, $8
	JB   ctail4
	MOVQ (SI), BX
	XORQ AX, BX
	MOVQ BX, (DI)
	ORQ  BX, R10
	ADDQ $8, SI
	ADDQ $8, DI
	SUBQ $8, CX

ctail4:
	CMPQ CX, $4
	JB   ctail2
	MOVL (SI), BX
	XORL AX, BX
	MOVL BX, (DI)
	ORQ  BX, R10
	ADDQ $4, SI
	ADDQ $4, DI
	SUBQ $4, CX

ctail2:
	CMPQ    CX, $2
	JB      ctail1
	MOVWLZX (SI), BX
	MOVWLZX AX, R11
	XORL    R11, BX
	MOVW    BX, (DI)
	ORQ     BX, R10
	RORQ    $16, AX
	ADDQ    $2, SI
	ADDQ    $2, DI
	SUBQ    $2, CX

ctail1:
	TESTQ   CX, CX
	JZ      cdone
	MOVBLZX (SI), BX
	MOVBLZX AL, R11
	XORL    R11, BX
	MOVB    BX, (DI)
	ORQ     BX, R10

cdone:
	// ASCII if no byte stored had its high bit set: PMOVMSKB gathers the
	// high bits of the vector accumulator, the mask those of R10. The
	// scalar steps or in only the bytes they stored: the 1- and 2-byte
	// ones xor with the key zero-extended to their width, and 32-bit
	// operations clear bits 32-63.
	PMOVMSKB X5, BX
	MOVQ     $0x8080808080808080, DX
	ANDQ     DX, R10
	ORQ      BX, R10
	SETEQ    ascii+56(FP)
	RET

// func hasAVX512BW() bool
//
// Called only once hasAVX2 said yes: CPUID leaf 7 and XGETBV exist.
TEXT ·hasAVX512BW(SB), NOSPLIT, $0-1
	// XCR0: XMM, YMM, opmask, ZMM_Hi256 and Hi16_ZMM state (bits 1, 2, 5-7).
	MOVL   $0, CX
	XGETBV
	ANDL   $0xe6, AX
	CMPL   AX, $0xe6
	JNE    no512

	// Leaf 7, subleaf 0, EBX: AVX512F (bit 16) and AVX512BW (bit 30);
	// ECX: AVX512_VBMI2 (bit 6), which lariat does not use but which
	// marks the CPUs (Ice Lake and later, Zen 4 and later) whose 512-bit
	// instructions do not lower the core's clock as Skylake-X's do.
	MOVL $7, AX
	MOVL $0, CX
	CPUID
	ANDL $0x40010000, BX
	CMPL BX, $0x40010000
	JNE  no512
	ANDL $0x40, CX
	JZ   no512
	MOVB $1, ret+0(FP)
	RET

no512:
	MOVB $0, ret+0(FP)
	RET
