// aviary: the administrator's command. All of it lives in AviaryAdmin.
import ArgumentParser
import AviaryAdmin

AviaryCommand.main()
