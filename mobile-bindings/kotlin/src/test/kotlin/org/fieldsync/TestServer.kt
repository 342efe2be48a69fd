package org.fieldsync

import java.io.File
import java.net.HttpURLConnection
import java.net.URI
import java.nio.file.Files
import java.util.concurrent.TimeUnit

/**
 * A real fieldsync-server on a free loopback port with the demo branch, started once for the test
 * run (the binary named by the `fieldsync.server` system property) and stopped at exit.
 */
object TestServer {
    const val DEMO_CUSTOMERS = 12

    private val binary: String =
        System.getProperty("fieldsync.server") ?: error("set -Dfieldsync.server to the server binary")
    private val data: File = Files.createTempDirectory("fieldsync-server-").toFile()
    private val process: Process
    val url: String

    init {
        require(File(binary).canExecute()) { "no server binary at $binary: cargo build -p fieldsync-server" }
        process = ProcessBuilder(
            binary, "serve", "--data", data.path, "--listen", "127.0.0.1:0",
            "--demo", "--demo-customers", DEMO_CUSTOMERS.toString(),
        ).redirectError(ProcessBuilder.Redirect.DISCARD).start()
        val lines = process.inputStream.bufferedReader()
        var found: String? = null
        while (found == null) {
            val line = lines.readLine() ?: error("the server exited before listening")
            found = Regex("listening on (http://\\S+)").find(line)?.groupValues?.get(1)
        }
        url = found
        // Keep draining its output so it never blocks on a full pipe.
        Thread { lines.forEachLine { } }.apply { isDaemon = true }.start()
        Runtime.getRuntime().addShutdownHook(Thread {
            process.destroy()
            process.waitFor(30, TimeUnit.SECONDS)
        })
    }

    /** Signs in over the API as a supervisor's PC would; returns the token. */
    fun login(username: String, password: String, deviceId: String): String {
        val body = """{"username":"$username","password":"$password","device_id":"$deviceId","actor":"${"ab".repeat(16)}"}"""
        val (status, answer) = call("/api/v1/login", null, null, body)
        check(status == 200) { "login answered $status" }
        return Regex("\"token\"\\s*:\\s*\"([^\"]+)\"").find(answer)!!.groupValues[1]
    }

    /** A JSON POST as a signed-in device; returns the status and the body. */
    fun call(path: String, token: String?, deviceId: String?, body: String): Pair<Int, String> {
        val connection = URI(url + path).toURL().openConnection() as HttpURLConnection
        connection.requestMethod = "POST"
        connection.doOutput = true
        connection.setRequestProperty("content-type", "application/json")
        token?.let { connection.setRequestProperty("authorization", "Bearer $it") }
        deviceId?.let { connection.setRequestProperty("x-device-id", it) }
        connection.outputStream.use { it.write(body.toByteArray()) }
        val status = connection.responseCode
        val stream = if (status < 400) connection.inputStream else connection.errorStream
        return status to (stream?.bufferedReader()?.readText() ?: "")
    }

    /** `fieldsync-server admin …` on the running server's data folder. */
    fun admin(vararg args: String) {
        val admin = ProcessBuilder(binary, "admin", "--data", data.path, *args)
            .redirectErrorStream(true).start()
        val output = admin.inputStream.bufferedReader().readText()
        check(admin.waitFor(60, TimeUnit.SECONDS) && admin.exitValue() == 0) { "admin ${args.toList()}: $output" }
    }
}
