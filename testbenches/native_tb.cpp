// memres verify: the native testbench. Drives the verification harness (testbenches/harness.py) compiled
// by Verilator, exactly as testbenches/record.py::Driver does under cocotb (same random numbers, same
// order), and records the transactions the core shows; testbenches/check.py::compare compares them.
//
//   Vtb STIMULUS OUTDIR SEED P_VALID P_READY STOP_AT [WAVEFILE]
//
// STIMULUS (written by testbenches/native.py): int64 n_segments, then per segment (the parts of a run
// between resets, testbenches/job.py::segments) int64 n_frames, n_loads, probe_frames, budget, tail, cut,
// delay, then n_frames x FRAME_W64 uint64 frame words, n_loads int64 load_at, n_loads x LOAD_W64 uint64
// load words. OUTDIR receives trace.bin (cycle, valid bits, TRACE_W64 words per beat), results.bin
// (cycle, ready, RESULT_W64 words per clock with results.valid), frames.bin and loads.bin (the clock each
// was taken), resets.bin (the last clock before each reset) and summary.txt.
// memres_ports.h (generated per design) gives the word counts and the port accessors.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>
#include <vector>

#include "verilated.h"
#include "Vmemres_verify_tb.h"
#include "memres_ports.h"
#if VM_COVERAGE
#include "verilated_cov.h"
#endif
#if MEMRES_WAVES_FST
#include "verilated_fst_c.h"
#elif MEMRES_WAVES_VCD
#include "verilated_vcd_c.h"
#endif

// Python's random.Random(seed) for a non-negative integer seed: MT19937 seeded by init_by_array with the
// seed's 32-bit words, random() = genrand_res53.
class PyRandom {
    static const int N = 624, M = 397;
    uint32_t mt[N];
    int mti = N + 1;

    void init_genrand(uint32_t s) {
        mt[0] = s;
        for (mti = 1; mti < N; mti++) mt[mti] = 1812433253u * (mt[mti - 1] ^ (mt[mti - 1] >> 30)) + (uint32_t)mti;
    }
    uint32_t genrand() {
        uint32_t y;
        if (mti >= N) {
            int kk;
            for (kk = 0; kk < N - M; kk++) {
                y = (mt[kk] & 0x80000000u) | (mt[kk + 1] & 0x7fffffffu);
                mt[kk] = mt[kk + M] ^ (y >> 1) ^ ((y & 1u) ? 0x9908b0dfu : 0u);
            }
            for (; kk < N - 1; kk++) {
                y = (mt[kk] & 0x80000000u) | (mt[kk + 1] & 0x7fffffffu);
                mt[kk] = mt[kk + (M - N)] ^ (y >> 1) ^ ((y & 1u) ? 0x9908b0dfu : 0u);
            }
            y = (mt[N - 1] & 0x80000000u) | (mt[0] & 0x7fffffffu);
            mt[N - 1] = mt[M - 1] ^ (y >> 1) ^ ((y & 1u) ? 0x9908b0dfu : 0u);
            mti = 0;
        }
        y = mt[mti++];
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c5680u;
        y ^= (y << 15) & 0xefc60000u;
        y ^= y >> 18;
        return y;
    }

  public:
    explicit PyRandom(uint64_t seed) {
        uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
        int len = key[1] ? 2 : 1;
        init_genrand(19650218u);
        int i = 1, j = 0;
        for (int k = N > len ? N : len; k; k--) {
            mt[i] = (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >> 30)) * 1664525u)) + key[j] + (uint32_t)j;
            i++, j++;
            if (i >= N) { mt[0] = mt[N - 1]; i = 1; }
            if (j >= len) j = 0;
        }
        for (int k = N - 1; k; k--) {
            mt[i] = (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >> 30)) * 1566083941u)) - (uint32_t)i;
            i++;
            if (i >= N) { mt[0] = mt[N - 1]; i = 1; }
        }
        mt[0] = 0x80000000u;
        mti = N;
    }
    double random() {
        uint32_t a = genrand() >> 5, b = genrand() >> 6;
        return (a * 67108864.0 + b) * (1.0 / 9007199254740992.0);
    }
};

static void die(const char* what) {
    std::fprintf(stderr, "native testbench: %s\n", what);
    std::exit(3);
}

static std::vector<uint64_t> read_words(FILE* f, size_t n) {
    std::vector<uint64_t> v(n);
    if (n && std::fread(v.data(), sizeof(uint64_t), n, f) != n) die("stimulus file too short");
    return v;
}

static FILE* open_out(const std::string& dir, const char* name) {
    FILE* f = std::fopen((dir + "/" + name).c_str(), "wb");
    if (!f) die("cannot write to the output folder");
    static std::vector<char> bufs[8];
    static int used = 0;
    bufs[used].resize(1 << 20);
    std::setvbuf(f, bufs[used++].data(), _IOFBF, 1 << 20);
    return f;
}

// The complement of a beat's payload (bits above `bits` left 0): what a port holds while its valid is low.
static void complement(const uint64_t* w, uint64_t* out, int words, int bits) {
    for (int i = 0; i < words; i++) {
        const int left = bits - 64 * i;
        out[i] = ~w[i] & (left >= 64 ? ~(uint64_t)0 : ((uint64_t)1 << left) - 1);
    }
}

struct Segment {
    int64_t n_frames, n_loads, probe_frames, budget, tail, cut, delay;
    std::vector<uint64_t> frames, load_at, loads;
};

int main(int argc, char** argv) {
    if (argc < 7) die("usage: Vtb STIMULUS OUTDIR SEED P_VALID P_READY STOP_AT [WAVEFILE]");
    const std::string out = argv[2];
    const uint64_t seed = std::strtoull(argv[3], nullptr, 10);
    const double p_valid = std::strtod(argv[4], nullptr), p_ready = std::strtod(argv[5], nullptr);
    const int64_t stop_at = std::strtoll(argv[6], nullptr, 10);

    FILE* sf = std::fopen(argv[1], "rb");
    if (!sf) die("cannot open the stimulus file");
    int64_t n_segments;
    if (std::fread(&n_segments, sizeof(int64_t), 1, sf) != 1 || n_segments < 1) die("stimulus file too short");
    std::vector<Segment> segments((size_t)n_segments);
    for (Segment& g : segments) {
        int64_t head[7];
        if (std::fread(head, sizeof(int64_t), 7, sf) != 7) die("stimulus file too short");
        g.n_frames = head[0], g.n_loads = head[1], g.probe_frames = head[2], g.budget = head[3], g.tail = head[4];
        g.cut = head[5], g.delay = head[6];
        g.frames = read_words(sf, (size_t)g.n_frames * FRAME_W64);
        g.load_at = read_words(sf, (size_t)g.n_loads);
        g.loads = read_words(sf, (size_t)g.n_loads * LOAD_W64);
    }
    std::fclose(sf);

    VerilatedContext ctx;
    Vmemres_verify_tb* top = new Vmemres_verify_tb{&ctx};
#if MEMRES_WAVES_FST || MEMRES_WAVES_VCD
#if MEMRES_WAVES_FST
    VerilatedFstC* tfp = new VerilatedFstC;
#else
    VerilatedVcdC* tfp = new VerilatedVcdC;
#endif
    ctx.traceEverOn(true);
    top->trace(tfp, 99);
    if (argc < 8) die("a build with waves needs WAVEFILE");
    tfp->open(argv[7]);
#define DUMP() tfp->dump(ctx.time())
#else
#define DUMP() (void)0
#endif
    auto half = [&](int clk) {
        top->clk = clk;
        top->eval();
        DUMP();
        ctx.timeInc(5000);   // 5 ns at 1 ps precision: a 10 ns clock, as under cocotb
    };

    const int RESET_CLOCKS = MEMRES_RESET_CLOCKS;
    top->rst = 1;
    top->ctl = 0;
    uint64_t zero[FRAME_W64 > LOAD_W64 ? FRAME_W64 : LOAD_W64] = {0};
    uint64_t idle[FRAME_W64 > LOAD_W64 ? FRAME_W64 : LOAD_W64] = {0};
    set_frames(top, zero);
    set_load(top, zero);
    for (int i = 0; i < RESET_CLOCKS; i++) { half(1); half(0); }
    top->rst = 0;

    FILE* f_trace = open_out(out, "trace.bin");
    FILE* f_results = open_out(out, "results.bin");
    FILE* f_frames = open_out(out, "frames.bin");
    FILE* f_loads = open_out(out, "loads.bin");
    uint64_t rec[2 + (TRACE_W64 > RESULT_W64 ? TRACE_W64 : RESULT_W64)];

    FILE* f_resets = open_out(out, "resets.bin");
    // The driver: testbenches/record.py::Driver and record(), statement for statement.
    PyRandom rng(seed);
    int64_t cycle = 0;
    const char* stop = "done";
    auto t0 = std::chrono::steady_clock::now();
    std::clock_t c0 = std::clock();
    for (const Segment& g : segments) {
        const int64_t n_frames = g.n_frames, n_loads = g.n_loads, probe_frames = g.probe_frames;
        int64_t loads_sent = 0, frames_sent = 0, probe_accepted = 0, probe_valid = 0;
        bool l_offer = false, f_offer = false, rr = false;
        int64_t start = cycle, done = 0, tail = -1, wait = -1;
        bool ended = false;       // the run stops (budget, stop_at), not just the segment
        for (;;) {
            bool probing = probe_valid < probe_frames;
            bool load_due = loads_sent < n_loads && frames_sent >= (int64_t)g.load_at[loads_sent] &&
                            (!probing || g.load_at[loads_sent] == 0);
            if (load_due && !f_offer) {
                if (!l_offer && rng.random() < p_valid) {
                    l_offer = true;
                    set_load(top, &g.loads[(size_t)loads_sent * LOAD_W64]);
                }
            } else if (frames_sent < n_frames && !f_offer && !load_due) {
                bool offer = probing ? frames_sent < probe_frames : rng.random() < p_valid;
                if (offer) {
                    f_offer = true;
                    set_frames(top, &g.frames[(size_t)frames_sent * FRAME_W64]);
                }
            }
            rr = probing ? true : rng.random() < p_ready;
            top->ctl = (uint8_t)((rr ? 1 : 0) | (f_offer ? 2 : 0) | (l_offer ? 4 : 0));
            half(1);
            half(0);
            cycle++;
            if (cycle - start > g.budget) { stop = "budget"; ended = true; break; }
            const uint64_t st = get_status(top);
            const uint64_t fr = st & 1, lr = (st >> 1) & 1, rv = (st >> 2) & 1, tv = st >> 3;
            if (tv) {
                rec[0] = (uint64_t)cycle;
                rec[1] = tv;
                get_trace(top, rec + 2);
                std::fwrite(rec, sizeof(uint64_t), 2 + TRACE_W64, f_trace);
            }
            if (rv) {
                rec[0] = (uint64_t)cycle;
                rec[1] = rr ? 1 : 0;
                get_results(top, rec + 2);
                std::fwrite(rec, sizeof(uint64_t), 2 + RESULT_W64, f_results);
                done += rr ? 1 : 0;
            }
            if (rv && probing && probe_valid < probe_accepted) probe_valid++;
            // a payload is don't-care while its valid is low: the beat just taken is replaced by its complement
            if (l_offer && lr) {
                l_offer = false;
                complement(&g.loads[(size_t)loads_sent * LOAD_W64], idle, LOAD_W64, LOAD_BITS);
                set_load(top, idle);
                loads_sent++;
                std::fwrite(&cycle, sizeof(int64_t), 1, f_loads);
            }
            if (f_offer && fr) {
                f_offer = false;
                complement(&g.frames[(size_t)frames_sent * FRAME_W64], idle, FRAME_W64, FRAME_BITS);
                set_frames(top, idle);
                if (frames_sent < probe_frames) probe_accepted++;
                frames_sent++;
                std::fwrite(&cycle, sizeof(int64_t), 1, f_frames);
            }
            if (g.cut) {
                if (wait < 0 && frames_sent == n_frames) wait = g.delay;
                if (wait >= 0) {
                    if (wait == 0) break;
                    wait--;
                }
            } else {
                if (done >= n_frames && tail < 0) tail = g.tail;
                if (tail >= 0) {
                    if (tail == 0) break;
                    tail--;
                }
            }
            if (stop_at && cycle >= stop_at) { stop = "stop_at"; ended = true; break; }
            if ((cycle & 0xFFFFF) == 0)
                std::fprintf(stderr, "memres verify: clock %lld, %lld of %lld frames in, %lld results\n",
                             (long long)cycle, (long long)frames_sent, (long long)n_frames, (long long)done);
        }
        if (ended || !g.cut) break;
        std::fwrite(&cycle, sizeof(int64_t), 1, f_resets);
        top->rst = 1;
        top->ctl = 0;
        for (int i = 0; i < RESET_CLOCKS; i++) { half(1); half(0); }
        cycle += RESET_CLOCKS;
        top->rst = 0;
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double cpu = double(std::clock() - c0) / CLOCKS_PER_SEC;
    top->final();
#if MEMRES_WAVES_FST || MEMRES_WAVES_VCD
    tfp->close();
#endif
#if VM_COVERAGE
    ctx.coveragep()->write((out + "/coverage.dat").c_str());
#endif
    std::fclose(f_trace);
    std::fclose(f_results);
    std::fclose(f_frames);
    std::fclose(f_loads);
    std::fclose(f_resets);
    FILE* f = open_out(out, "summary.txt");
    std::fprintf(f, "cycles %lld\nstop %s\nseconds %.6f\ncpu_seconds %.6f\n", (long long)cycle, stop, seconds, cpu);
    std::fclose(f);
    delete top;
    return 0;
}
