# O que os clientes leem: o formulário de opinião, as suas páginas e os
# seus emails (português europeu). Mesmas mensagens que en.ftl.

## Datas: "1 de janeiro de 1990"
date-long = { $day } de { $month } de { $year }
month-1 = janeiro
month-2 = fevereiro
month-3 = março
month-4 = abril
month-5 = maio
month-6 = junho
month-7 = julho
month-8 = agosto
month-9 = setembro
month-10 = outubro
month-11 = novembro
month-12 = dezembro

## O formulário
form-title = Como correu a visita?
visit-date = Data
visit-technician = Técnico
work-service-visit = Visita de assistência: { $product }
visit-work = Trabalho realizado
tech-unnamed = O nosso técnico
tech-unnamed-inline = o nosso técnico
errors-intro = Por favor, verifique as suas respostas:
answer-yes = Sim
answer-no = Não
scale-ends = { $lo } = { $low }, { $hi } = { $high }
send = Enviar opinião

q-fixed-prompt = O problema ficou resolvido?
q-fixed-invalid = Por favor, indique se o problema ficou resolvido.
q-rating-prompt = No geral, como foi a visita?
q-rating-invalid = Por favor, escolha uma classificação geral de 1 a 5.
q-rating-low = muito má
q-rating-high = excelente
q-courtesy-prompt = Qual foi o grau de cortesia de { $tech }?
q-courtesy-invalid = Por favor, avalie a cortesia do técnico de 1 a 5.
q-courtesy-low = muito má
q-courtesy-high = excelente
q-recommend-prompt = Qual a probabilidade de nos recomendar a um amigo?
q-recommend-invalid = Por favor, escolha um número de 0 a 10.
q-recommend-low = nada provável
q-recommend-high = extremamente provável
q-comment-prompt = Há mais alguma coisa que nos queira dizer? (opcional)
q-comment-invalid = Por favor, escreva um comentário com menos de { $max } caracteres.
error-card-number = Por favor, não inclua números de cartão na sua resposta: nunca os guardamos. Escreva-a de novo sem o número.
error-unusual-characters = Por favor, retire os caracteres invulgares da sua resposta.

## As outras páginas do formulário
thanks-title = Obrigado!
thanks-text = Recebemos a sua opinião. Ajuda-nos a fazer melhor.
answered-title = Já respondido
answered-text = A opinião sobre esta visita já foi dada. Obrigado!
expired-title = Esta ligação expirou
expired-text = Obrigado pelo seu interesse. As ligações para dar opinião funcionam durante um tempo limitado, e esta já terminou.
not-found-title = Ligação não encontrada
not-found-text = Esta ligação para dar opinião não é válida. Verifique se abriu a ligação completa da sua mensagem.
too-many-title = Demasiados pedidos
too-many-text = Por favor, aguarde um minuto e tente de novo.
failed-title = Algo correu mal
failed-text = Por favor, tente de novo daqui a pouco.
failed-not-saved = As suas respostas não foram guardadas. Por favor, tente de novo daqui a pouco.
unsubscribe-title = Deixar de receber pedidos de opinião
unsubscribe-question = Deixar de receber pedidos de opinião?
unsubscribe-text = Não lhe voltaremos a pedir a sua opinião sobre futuras visitas.
unsubscribe-button = Sim, não quero receber mais pedidos
unsubscribed-title = Pedido registado
unsubscribed-text = Não voltará a receber pedidos de opinião da nossa parte.

## O pedido de opinião (email e SMS)
email-subject = Como correu a visita de { $tech } em { $date }?
email-greeting-name = Olá { $name },
email-greeting = Olá,
email-visited = { $tech } esteve consigo a { $date } ({ $work }).
email-ask = Pode dizer-nos como correu? Demora um minuto.
email-button = Dar a minha opinião
email-or-link = Ou abra esta ligação:
email-thanks = Obrigado.
email-unsubscribe = Não quero receber mais pedidos de opinião
email-unsubscribe-text = Para não receber mais pedidos de opinião:
sms-request = { $brand }: como correu a visita de { $tech } em { $date }? Diga-nos num minuto: { $link } (para não receber mais pedidos: { $unsubscribe })

## A fatura (email, lembrete e página para imprimir)
invoice-title = Fatura { $number }
invoice-number = Número da fatura
invoice-customer = Cliente
invoice-issued = Emitida em
invoice-visit = Visita
invoice-price-book = Tabela de preços
invoice-price-book-version = versão { $version }
invoice-lines-caption = Linhas tal como faturadas na conclusão da visita
invoice-description = Descrição
invoice-quantity = Quantidade
invoice-unit-price = Preço unitário
invoice-amount = Valor
invoice-callout = Deslocação
invoice-labour = Mão de obra ({ $rate })
invoice-labour-note = Mão de obra ({ $rate }): { $note }
invoice-covered-warranty = (coberto pela garantia)
invoice-covered-contract = (coberto pelo contrato { $contract })
invoice-subtotal = Subtotal
invoice-tax = IVA ({ $rate } %)
invoice-total = Total
invoice-paid = Pago no local
invoice-credited = Notas de crédito
invoice-refunded = Reembolsado
invoice-due = Valor em dívida
invoice-subject = A sua fatura { $number } ({ $total })
invoice-reminder-subject = Lembrete: fatura { $number } ({ $due } em dívida)
invoice-intro = Obrigado pela preferência. Segue a fatura { $number } referente à visita.
invoice-reminder-intro = Lembramos que a fatura { $number } de { $date } tem ainda { $due } por pagar.
invoice-button = Ver ou imprimir a fatura
invoice-view = Ver ou imprimir:
invoice-thanks = Obrigado.
invoice-not-found-title = Fatura não encontrada
invoice-not-found-text = Esta ligação não é válida ou expirou. Contacte-nos para receber uma cópia da sua fatura.
