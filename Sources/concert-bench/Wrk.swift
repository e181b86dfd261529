import Foundation

/// Requests sent by `wrk` (Debian's package) instead of AsyncHTTPClient, where the client's own
/// CPU would count against the figure: the client shares the cores with the server, and wrk
/// spends a fraction of AsyncHTTPClient's CPU on a request (docs/performance.md). Holds (whose
/// baseline has no HTTP client at all) and the hot seat's bursts are sent this way.
enum Wrk {
    /// One HTTP request, sent once.
    struct Request {
        var method: String
        var path: String
        var bearer: String?
        var queueToken: String?
        var body: String?

        static let health = Request(method: "GET", path: "/health")

        /// A user's hold of one seat.
        static func hold(bearer: String, queueToken: String, schedule: Int, seat: Int) -> Request {
            Request(
                method: "POST", path: "/v1/reservations", bearer: bearer, queueToken: queueToken,
                body: SaleAPI.holdBody(schedule: schedule, seats: [seat]))
        }

        /// One line of the script's data file: "METHOD PATH BEARER QUEUE-TOKEN BODY", "-" for none.
        var line: String { "\(method) \(path) \(bearer ?? "-") \(queueToken ?? "-") \(body ?? "")\n" }
    }

    enum Pace {
        /// As fast as the server answers, over this many keep-alive connections.
        case stream(connections: Int)
        /// One connection per request, every connection open before the first request, then
        /// all requests written at the same instant: a crowd pressing "hold" together.
        case burst
    }

    struct Result {
        var statuses: [Int: Int]
        var seconds: Double
        var p50Milliseconds: Double
        var p99Milliseconds: Double
        /// CPU time from the first request written to the last answer read.
        var serverCPUSeconds: Double
        var wrkCPUSeconds: Double

        var answered: Int { statuses.values.reduce(0, +) }
        var perSecond: Double { Double(answered) / max(seconds, 1e-9) }
        func count(_ status: Int) -> Int { statuses[status] ?? 0 }
    }

    /// How long a burst waits for its connections to open: a connection still opening then is
    /// an error, not a slow answer.
    private static let burstLeadMilliseconds = 2_000

    /// Sends every request once (one wrk thread: the counts live in one Lua state) and returns
    /// when the last one is answered.
    static func run(_ requests: [Request], pace: Pace, server: BenchServer, directory: URL) async throws -> Result {
        let script = directory.appendingPathComponent("requests.lua")
        let data = directory.appendingPathComponent("requests-\(UUID().uuidString).txt")
        try luaScript.write(to: script, atomically: true, encoding: .utf8)
        try requests.map(\.line).joined().write(to: data, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: data) }

        let connections: Int
        let mode: String
        switch pace {
        case .stream(let count): (connections, mode) = (count, "stream")
        case .burst: (connections, mode) = (requests.count, "burst")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        // -d only bounds a run that stalls (at 200 requests/s): the script ends wrk once every
        // request is answered.
        process.arguments = [
            "wrk", "-t1", "-c\(connections)", "-d\(max(120, requests.count / 200))s", "--timeout", "30s", "-s", script.path,
            server.baseURL, "--", data.path, mode, "\(burstLeadMilliseconds)", "\(server.processIdentifier)",
        ]
        let output = Pipe()
        process.standardOutput = output
        let finished = AsyncStream<Void> { continuation in
            process.terminationHandler = { _ in continuation.finish() }
        }
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        for await _ in finished {}
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("answered=") }) else {
            throw BenchError("wrk exited \(process.terminationStatus) without figures (apt-get install wrk?):\n\(text)")
        }
        let fields = Dictionary(uniqueKeysWithValues: line.split(separator: " ").compactMap { field -> (String, Substring)? in
            let parts = field.split(separator: "=", maxSplits: 1)
            return parts.count == 2 ? (String(parts[0]), parts[1]) : nil
        })
        func number(_ name: String) throws -> Double {
            guard let value = fields[name].flatMap({ Double($0) }) else { throw BenchError("wrk's figures lack \(name): \(line)") }
            return value
        }
        // "201:1,409:999"
        let statuses = Dictionary(uniqueKeysWithValues: (fields["statuses"] ?? "").split(separator: ",").compactMap { pair -> (Int, Int)? in
            let parts = pair.split(separator: ":")
            guard parts.count == 2, let status = Int(parts[0]), let count = Int(parts[1]) else { return nil }
            return (status, count)
        })
        let late = try number("late")
        if late > 0 { throw BenchError("\(Int(late)) of the burst's connections were still opening when it started: \(line)") }
        let result = Result(
            statuses: statuses, seconds: try number("seconds"),
            p50Milliseconds: try number("p50_us") / 1000, p99Milliseconds: try number("p99_us") / 1000,
            serverCPUSeconds: try number("server_cpu_s"), wrkCPUSeconds: try number("wrk_cpu_s"))
        guard result.answered == requests.count else {
            throw BenchError("wrk saw \(result.answered) of \(requests.count) requests answered: \(line)")
        }
        return result
    }

    /// Arguments: the data file (one request per line), "stream" or "burst", the burst's lead
    /// (ms), the server's process id. Once every request has its answer the script signals wrk
    /// (SIGINT), which then reports: the run lasts as long as the requests, and no connection
    /// sends anything else.
    private static let luaScript = #"""
        local ffi = require("ffi")
        ffi.cdef[[
        typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
        int clock_gettime(int clock, bench_timespec *time);
        typedef struct { long user_sec; long user_usec; long system_sec; long system_usec; long rest[14]; } bench_rusage;
        int getrusage(int who, bench_rusage *usage);
        long sysconf(int name);
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
        local function wrkCPU()
          local usage = ffi.new("bench_rusage")
          ffi.C.getrusage(0, usage)  -- RUSAGE_SELF: every wrk thread
          return tonumber(usage.user_sec + usage.system_sec) + tonumber(usage.user_usec + usage.system_usec) / 1e6
        end
        local function serverCPU()
          local file = io.open("/proc/" .. serverPID .. "/stat")
          local stat = file:read("*a")
          file:close()
          -- After the command name: state, then utime and stime are the 12th and 13th (proc(5)).
          local fields = {}
          for field in stat:match(".*%)%s+(.*)$"):gmatch("%S+") do fields[#fields + 1] = field end
          return (tonumber(fields[12]) + tonumber(fields[13])) / tonumber(ffi.C.sysconf(2))  -- _SC_CLK_TCK
        end

        local threads = {}
        function setup(thread) threads[#threads + 1] = thread end

        local requests, checked = {}, false
        function init(args)
          -- wrk inherits the signal mask of the thread that started it, and Swift's threads block
          -- SIGINT (and SIGTERM): unblock them on wrk's main thread (init runs there), whose
          -- sleep SIGINT must end.
          ffi.C.pthread_sigmask(2, ffi.new("bench_sigset"), nil)  -- SIG_SETMASK to the empty set
          for line in io.lines(args[1]) do
            local method, path, bearer, token, body = line:match("^(%S+) (%S+) (%S+) (%S+) ?(.*)$")
            local headers = {}
            if bearer ~= "-" then headers["Authorization"] = "Bearer " .. bearer end
            if token ~= "-" then headers["Queue-Token"] = token end
            if body == "" then body = nil else headers["Content-Type"] = "application/json" end
            requests[#requests + 1] = wrk.format(method, path, headers, body)
          end
          burst = args[2] == "burst"
          go = now() + tonumber(args[3]) / 1000
          serverPID = args[4]
          sent, opened, late, answered, seconds, serverSeconds, wrkSeconds = 0, 0, 0, 0, 0, 0, 0
          statuses = {}
        end

        function request()
          -- wrk builds one request to check the script before any connection sends: not one of ours.
          if not checked then checked = true; return wrk.format("GET", "/health") end
          if sent == 0 then started, serverSeconds, wrkSeconds = now(), serverCPU(), wrkCPU() end
          sent = sent + 1
          return requests[sent]
        end

        -- wrk asks before every request of a connection, the first one included (once it is open).
        function delay()
          if not burst then
            if sent >= #requests then return 3600000 end  -- all sent: wait for the SIGINT below
            return 0
          end
          opened = opened + 1
          if opened > #requests then return 3600000 end  -- one request per connection
          local wait = go - now()
          if wait <= 0 then late = late + 1; return 0 end
          return math.ceil(wait * 1000)
        end

        function response(status)
          statuses[status] = (statuses[status] or 0) + 1
          answered = answered + 1
          if answered == #requests then
            seconds = now() - started
            serverSeconds, wrkSeconds = serverCPU() - serverSeconds, wrkCPU() - wrkSeconds
            local counts = {}
            for code, count in pairs(statuses) do counts[#counts + 1] = code .. ":" .. count end
            summary = table.concat(counts, ",")
            ffi.C.kill(ffi.C.getpid(), 2)
          end
        end

        function done(_, latency)
          local thread = threads[1]
          io.write(string.format(
            "answered=%d seconds=%.6f p50_us=%d p99_us=%d late=%d server_cpu_s=%.3f wrk_cpu_s=%.3f statuses=%s\n",
            thread:get("answered"), thread:get("seconds"), latency:percentile(50), latency:percentile(99),
            thread:get("late"), thread:get("serverSeconds"), thread:get("wrkSeconds"), thread:get("summary") or ""))
        end
        """#
}
