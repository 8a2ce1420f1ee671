#!/usr/bin/python3
"""A milter built on libmilter (Debian's python3-milter, pymilter) that takes the action a message asks for.

    action_milter.py SOCKET_PATH

Recipients decide at RCPT: `reject-rcpt@...` gets 550 5.7.1 from the milter. The Subject decides at end of
message: `quarantine` -> QUARANTINE, `discard` -> DISCARD, `tempfail` -> 451 4.7.1, `rewrite` -> CHGFROM to
<milter@example.test>, ADDRCPT <bob@example.test>, DELRCPT of the first recipient, CHGHEADER Subject, and the body
replaced by "replaced body". Prints `ready` once listening.
"""

import sys

import Milter


class ActionMilter(Milter.Base):
    def __init__(self):
        self.id = Milter.uniqueID()
        self.recipients = []
        self.subject = ""

    @Milter.noreply
    def connect(self, hostname, family, hostaddr):
        return Milter.CONTINUE

    def envrcpt(self, recipient, *parameters):
        if recipient.strip("<>").startswith("reject-rcpt@"):
            self.setreply("550", "5.7.1", "recipient refused by the milter")
            return Milter.REJECT
        self.recipients.append(recipient)
        return Milter.CONTINUE

    @Milter.noreply
    def header(self, name, value):
        if name.lower() == "subject":
            self.subject = value.strip()
        return Milter.CONTINUE

    def eom(self):
        if "quarantine" in self.subject:
            self.quarantine("held by action_milter")
            return Milter.ACCEPT
        if "discard" in self.subject:
            return Milter.DISCARD
        if "tempfail" in self.subject:
            self.setreply("451", "4.7.1", "try later, says the milter")
            return Milter.TEMPFAIL
        if "rewrite" in self.subject:
            self.chgfrom("<milter@example.test>")
            self.addrcpt("<bob@example.test>")
            self.delrcpt(self.recipients[0])
            self.chgheader("Subject", 1, "rewritten " + self.subject)
            self.replacebody(b"replaced body\r\n")
        return Milter.CONTINUE


def main():
    Milter.factory = ActionMilter
    flags = Milter.CHGBODY + Milter.CHGHDRS + Milter.ADDHDRS + Milter.ADDRCPT + Milter.DELRCPT + Milter.QUARANTINE
    flags += Milter.CHGFROM
    Milter.set_flags(flags)
    print("ready", flush=True)
    Milter.runmilter("action_milter", "local:" + sys.argv[1], timeout=60)


if __name__ == "__main__":
    main()
