import AviaryIMAPServer
import Testing

@Suite struct IMAPServerPlaceholderTests {
    @Test("The server library links") func links() {}
}
