import Foundation

/// Holds driven by `wrk` (Debian's package) instead of AsyncHTTPClient. The hold baseline is
/// measured without any HTTP client, so the client's CPU, on the same 2 cores as the server,
/// counts against the holds alone: wrk spends about 15 µs of CPU on a hold, AsyncHTTPClient
/// about 100 µs (`wrk cpu` vs the hot seat's "benchmark client CPU").
struct WrkHolds {
    struct Hold {
        var bearer: String
        var queueToken: String
        var seat: Int
    }

    struct Result {
        var created: Int
        var refused: Int
        var seconds: Double
        var p50Milliseconds: Double
        var p99Milliseconds: Double

        var perSecond: Double { Double(created + refused) / max(seconds, 1e-9) }
    }

    /// Sends every hold once over `connections` keep-alive connections (one wrk thread: the
    /// counts live in one Lua state) and returns when the last one is answered.
    static func run(baseURL: String, schedule: Int, holds: [Hold], connections: Int, directory: URL) async throws -> Result {
        let script = directory.appendingPathComponent("holds.lua")
        let data = directory.appendingPathComponent("holds-\(schedule).txt")
        try luaScript.write(to: script, atomically: true, encoding: .utf8)
        try holds.map { "\($0.bearer) \($0.queueToken) \($0.seat)\n" }.joined().write(to: data, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: data) }

        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        // -d only bounds a run that stalls (at 200 holds/s): the script ends wrk once every
        // hold is answered.
        process.arguments = [
            "wrk", "-t1", "-c\(connections)", "-d\(max(120, holds.count / 200))s", "--timeout", "30s", "-s", script.path,
            baseURL + "/v1/reservations", "--", "\(schedule)", data.path,
        ]
        let output = Pipe()
        process.standardOutput = output
        let finished = AsyncStream<Void> { continuation in
            process.terminationHandler = { _ in continuation.finish() }
        }
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        for await _ in finished {}
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("holds=") }) else {
            throw BenchError("wrk exited \(process.terminationStatus) without figures (apt-get install wrk?):\n\(text)")
        }
        let fields = Dictionary(uniqueKeysWithValues: line.split(separator: " ").compactMap { field -> (String, Double)? in
            let parts = field.split(separator: "=")
            guard parts.count == 2, let value = Double(parts[1]) else { return nil }
            return (String(parts[0]), value)
        })
        func field(_ name: String) throws -> Double {
            guard let value = fields[name] else { throw BenchError("wrk's figures lack \(name): \(line)") }
            return value
        }
        let result = Result(
            created: Int(try field("holds")), refused: Int(try field("refused")), seconds: try field("seconds"),
            p50Milliseconds: try field("p50_us") / 1000, p99Milliseconds: try field("p99_us") / 1000)
        guard result.created + result.refused == holds.count else {
            throw BenchError("wrk saw \(result.created + result.refused) of \(holds.count) holds answered: \(line)")
        }
        return result
    }

    /// Each line of the data file is one hold, "bearer queue-token seat". Once every hold has
    /// its answer the script signals wrk (SIGINT), which then reports: the run lasts as long
    /// as the holds, and no connection sends anything else.
    private static let luaScript = #"""
        local ffi = require("ffi")
        ffi.cdef[[
        typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
        int clock_gettime(int clock, bench_timespec *time);
        int getpid(void);
        int kill(int pid, int signal);
        typedef struct { unsigned long bits[16]; } bench_sigset;
        int pthread_sigmask(int how, const bench_sigset *set, bench_sigset *old);
        ]]
        local function now()
          local time = ffi.new("bench_timespec")
          ffi.C.clock_gettime(1, time)  -- CLOCK_MONOTONIC
          return tonumber(time.tv_sec) + tonumber(time.tv_nsec) / 1e9
        end

        local threads = {}
        function setup(thread) threads[#threads + 1] = thread end

        local holds, checked = {}, false
        function init(args)
          -- wrk inherits the signal mask of the thread that started it, and Swift's threads block
          -- SIGINT (and SIGTERM): unblock them on wrk's main thread (init runs there), whose
          -- sleep SIGINT must end.
          ffi.C.pthread_sigmask(2, ffi.new("bench_sigset"), nil)  -- SIG_SETMASK to the empty set
          for line in io.lines(args[2]) do
            local bearer, token, seat = line:match("(%S+) (%S+) (%S+)")
            holds[#holds + 1] = wrk.format("POST", "/v1/reservations",
              {["Authorization"] = "Bearer " .. bearer, ["Queue-Token"] = token, ["Content-Type"] = "application/json"},
              '{"schedule_id": ' .. args[1] .. ', "seat_numbers": [' .. seat .. ']}')
          end
          sent, created, refused, seconds = 0, 0, 0, 0
        end

        function request()
          -- wrk builds one request to check the script before any connection sends: not a hold.
          if not checked then checked = true; return wrk.format("GET", "/health") end
          if sent == 0 then started = now() end
          sent = sent + 1
          return holds[sent]
        end

        -- Once every hold is sent, connections wait (for the SIGINT below) instead of sending more.
        function delay()
          if sent >= #holds then return 3600000 end
          return 0
        end

        function response(status)
          if status == 201 then created = created + 1 else refused = refused + 1 end
          if created + refused == #holds then
            seconds = now() - started
            ffi.C.kill(ffi.C.getpid(), 2)
          end
        end

        function done(summary, latency, requests)
          local thread = threads[1]
          io.write(string.format("holds=%d refused=%d seconds=%.6f p50_us=%d p99_us=%d\n",
            thread:get("created"), thread:get("refused"), thread:get("seconds"),
            latency:percentile(50), latency:percentile(99)))
        end
        """#
}
