// Two technicians on one phone (one app data directory), through the
// generated Kotlin bindings. Run by tests/tests/mobile/shared.rs:
//   shared <dir> <server> <anaOpenJob> <brunoJob> <anaAnsweredJob>
// Ana works offline and logs out; Bruno logs in on the same directory,
// sees only his job and syncs his work; Ana logs in again, finds her
// unsynced note, syncs it under her own login, and prints her feedback.
package shared

import com.fieldsync.*
import kotlin.system.exitProcess

fun sharedCheck(cond: Boolean, what: String) {
    if (!cond) throw AssertionError(what)
}

fun shared(dir: String, server: String, anaJob: String, brunoJob: String, answeredJob: String) {
    val options = ClientOptions(httpTimeoutMs = 30000uL, appVersion = "shared-phone 2.0 (kotlin)")
    FieldsyncClient.openWithOptions(dir, options).use { c ->
        val ana = c.login(server, "ana", "correct horse battery", "Shared tablet")
        c.sync()
        val anaJobs = c.jobs().map { it.id }
        sharedCheck(anaJob in anaJobs && brunoJob !in anaJobs, "ana's jobs $anaJobs")
        c.addNote(anaJob, "ana offline note")
        sharedCheck(c.pendingChangeCount() == 1UL, "ana pending ${c.pendingChangeCount()}")
        c.logOut()
        sharedCheck(c.session() == null, "logged out")
        try {
            c.jobs()
            throw AssertionError("jobs() after logOut")
        } catch (e: FieldsyncException.NotLoggedIn) {
            println("LOGGED_OUT NotLoggedIn")
        }

        val bruno = c.login(server, "bruno", "correct horse battery", "Shared tablet")
        sharedCheck(bruno.userId != ana.userId, "two users")
        sharedCheck(c.actorId() != c.loginActorId("ana"), "one actor per user")
        sharedCheck(c.pendingChangeCount() == 0UL, "bruno starts with nothing pending")
        c.sync()
        val brunoJobs = c.jobs().map { it.id }
        sharedCheck(brunoJobs == listOf(brunoJob), "bruno's jobs $brunoJobs")
        c.addNote(brunoJob, "bruno note")
        c.sync()
        sharedCheck(c.pendingChangeCount() == 0UL, "bruno synced")
        sharedCheck(c.myFeedback(0u, 20u).items.isEmpty(), "bruno has no feedback")
        println("BRUNO jobs=${brunoJobs.size}")
    }
    // A new process: Ana again, her note still waiting.
    FieldsyncClient.openWithOptions(dir, options).use { c ->
        sharedCheck(c.session()?.username == "bruno", "bruno still logged in")
        c.login(server, "ana", "correct horse battery", "Shared tablet")
        sharedCheck(c.pendingChangeCount() == 1UL, "ana's note waited: ${c.pendingChangeCount()}")
        sharedCheck(brunoJob !in c.jobs().map { it.id }, "ana sees bruno's job")
        c.sync()
        sharedCheck(c.pendingChangeCount() == 0UL, "ana synced")
        val page = c.myFeedback(0u, 20u)
        for (f in page.items) {
            val scores = f.answers.joinToString(",") { "${it.label}=${it.value}" }
            println("FEEDBACK job=${f.jobId} date=${f.visitDate} low=${f.low} $scores comment=${f.comment}")
        }
        sharedCheck(page.items.map { it.jobId } == listOf(answeredJob), "feedback ${page.items}")
        try {
            c.myFeedback(0u, 0u)
            throw AssertionError("limit 0 accepted")
        } catch (e: FieldsyncException.InvalidInput) {
            println("LIMIT InvalidInput")
        }
    }
    println("SHARED OK")
}

fun main(args: Array<String>) {
    when (args.getOrNull(0)) {
        "shared" -> shared(args[1], args[2], args[3], args[4], args[5])
        else -> {
            System.err.println("usage: shared <dir> <server> <anaJob> <brunoJob> <answeredJob>")
            exitProcess(2)
        }
    }
}
