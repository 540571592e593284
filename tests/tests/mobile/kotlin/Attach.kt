// Attachments through the generated Kotlin bindings, on the JVM.
// Run by tests/tests/mobile/attach.rs:
//   attach <dir> <server> <user> <password> <jobId> <photo1> <photo2> <signature.png>
//       log in and sync, then offline: two photos, the signature and its image, complete
//   upload <dir> <jobId> <maxAttempts>
//       resume uploads, sync the references, then upload until every file is on
//       the server, retrying after each cut connection (printing CUT and PROGRESS lines)
package attach

import com.fieldsync.*
import java.io.File
import java.security.MessageDigest
import kotlin.system.exitProcess

fun check(cond: Boolean, what: String) {
    if (!cond) throw AssertionError(what)
}

fun sha256(path: String): String =
    MessageDigest.getInstance("SHA-256").digest(File(path).readBytes()).joinToString("") { "%02x".format(it) }

fun attach(dir: String, server: String, user: String, password: String, jobId: String,
           photo1: String, photo2: String, signature: String) {
    FieldsyncClient.open(dir).use { c ->
        c.login(server, user, password, "Kotlin camera phone")
        check(c.sync().addedJobs == 1u, "the job arrives")
        // Offline from here.
        c.startTravel(jobId)
        c.arrive(jobId)
        c.addLabour(jobId, 45u, "standard", "Replaced the pressure valve")
        val before = c.attachFile(jobId, photo1, "before", "The leaking valve", "image/jpeg")
        val after = c.attachFile(jobId, photo2, "after", "The new valve", "image/jpeg")
        try {
            c.attachFile(jobId, signature, "signature", "", "image/png")
            throw AssertionError("a signature image before the signature was kept")
        } catch (e: FieldsyncException.Rejected) {
            check(e.code == "signature_mismatch", "code ${e.code}")
        }
        c.captureSignature(jobId, "Ana Lima", sha256(signature))
        val signed = c.attachFile(jobId, signature, "signature", "", "image/png")
        try {
            c.attachFile(jobId, photo1, "selfie", "", "image/jpeg")
            throw AssertionError("an unknown kind was kept")
        } catch (e: FieldsyncException.InvalidInput) {
        }
        c.complete(jobId)
        val uploads = c.jobUploads(jobId)
        check(!uploads.allUploaded && uploads.attachments.size == 3, "uploads $uploads")
        check(uploads.attachments.all { it.bytesSent == 0UL && !it.uploaded }, "nothing sent offline")
        // Paused (a metered network): nothing is sent, and it is kept.
        c.setUploadsPaused(true)
        val paused = c.uploadAttachments()
        check(paused.paused && paused.bytesSent == 0UL && paused.remaining == 3u, "paused report $paused")
        println("ATTACHED $before $after $signed")
    }
}

fun upload(dir: String, jobId: String, maxAttempts: Int) {
    FieldsyncClient.open(dir).use { c ->
        // Paused by the first process (kept across processes) until this one resumes.
        println("WAS_PAUSED ${c.uploadsPaused()}")
        c.setUploadsPaused(false)
        val synced = c.sync()
        check(synced.rejectedActions.isEmpty(), "references accepted: $synced")
        check(synced.rounds == 1u, "a sync of three references is one round: $synced")
        var attempts = 0
        var cuts = 0
        var sent = 0UL
        while (true) {
            attempts++
            check(attempts <= maxAttempts, "not uploaded after $maxAttempts attempts ($cuts cuts)")
            try {
                val report = c.uploadAttachments()
                sent += report.bytesSent
                check(report.refused == 0u && report.waitingForSync == 0u, "report $report")
                if (report.remaining == 0u) break
            } catch (e: FieldsyncException.Network) {
                cuts++
                println("CUT $attempts")
            }
            for (a in c.jobUploads(jobId).attachments) {
                check(a.bytesSent <= a.totalBytes, "progress $a")
                println("PROGRESS ${a.attachmentId} ${a.bytesSent}/${a.totalBytes}")
            }
        }
        val done = c.jobUploads(jobId)
        check(done.allUploaded, "all uploaded $done")
        check(done.attachments.all { it.uploaded && it.bytesSent == it.totalBytes }, "done $done")
        // Nothing left: a further call sends nothing.
        val again = c.uploadAttachments()
        check(again.bytesSent == 0UL && again.remaining == 0u, "again $again")
        println("UPLOADED attempts=$attempts cuts=$cuts sent=$sent")
    }
}

fun main(args: Array<String>) {
    when (args.getOrNull(0)) {
        "attach" -> attach(args[1], args[2], args[3], args[4], args[5], args[6], args[7], args[8])
        "upload" -> upload(args[1], args[2], args[3].toInt())
        else -> {
            System.err.println("usage: attach|upload ...")
            exitProcess(2)
        }
    }
}
