#if canImport(Glibc)
import Glibc
#endif
import AviarySubmission

// sendmail, mailq, newaliases: the local submission interface (see AviarySubmission).
exit(Sendmail.main(CommandLine.arguments))
