import AviarySubmission

#if canImport(Glibc)
import Glibc
#endif

// sendmail, mailq, newaliases: the local submission interface (see AviarySubmission).
exit(Sendmail.main(CommandLine.arguments))
